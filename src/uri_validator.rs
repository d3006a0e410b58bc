//! Port of DOT's `AllowedURIValidator` (and the Django `URLValidator` it builds on).
