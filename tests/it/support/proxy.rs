//! A TCP proxy between oauthctl and a real server that can go silent the way a broken network
//! path does (a fail-over, a dropped NAT entry, a middlebox that still acknowledges): it keeps
//! every socket open on both sides, stops forwarding in both directions, and never sends FIN or
//! RST. Its kernel still acknowledges what arrives, so TCP keepalives see a live peer; only the
//! application notices that nothing answers. Connections made while it is silent are accepted
//! and held, never forwarded.
//!
//! Plain std threads: one accepting, two pumps per connection. Dropping the proxy closes
//! everything.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a pump or the acceptor looks at the silence and stop switches.
const POLL: Duration = Duration::from_millis(20);

#[derive(Default)]
struct State {
    stop: AtomicBool,
    /// When the proxy went silent (`None`: forwarding).
    silent_since: Mutex<Option<Instant>>,
    /// Go silent as soon as a client sends bytes containing this (before forwarding them).
    trigger: Mutex<Option<Vec<u8>>>,
    /// Every socket, both sides, held open until the proxy is dropped.
    sockets: Mutex<Vec<TcpStream>>,
}

impl State {
    fn silent(&self) -> bool {
        self.silent_since.lock().unwrap().is_some()
    }

    fn go_silent(&self) {
        let mut since = self.silent_since.lock().unwrap();
        if since.is_none() {
            *since = Some(Instant::now());
        }
    }

    fn hold(&self, stream: &TcpStream) {
        self.sockets
            .lock()
            .unwrap()
            .push(stream.try_clone().expect("clone a socket"));
    }
}

pub struct SilentProxy {
    port: u16,
    state: Arc<State>,
    threads: Vec<JoinHandle<()>>,
}

impl SilentProxy {
    /// Listens on a free local port and forwards each connection to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> SilentProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let (upstream, shared) = (upstream.to_string(), state.clone());
        let acceptor = std::thread::spawn(move || accept_loop(listener, &upstream, &shared));
        SilentProxy {
            port,
            state,
            threads: vec![acceptor],
        }
    }

    /// `url` (a server URL) pointed at the proxy instead of the server.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a server URL");
        let (user, rest) = match rest.split_once('@') {
            Some((user, rest)) => (format!("{user}@"), rest),
            None => (String::new(), rest),
        };
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        format!("{scheme}://{user}127.0.0.1:{}{path}", self.port)
    }

    /// Stops forwarding now, in both directions, on every connection.
    pub fn go_silent(&self) -> Instant {
        self.state.go_silent();
        self.silent_since().unwrap()
    }

    /// Goes silent once a client sends bytes containing `pattern` (they are not forwarded).
    pub fn go_silent_on(&self, pattern: &[u8]) {
        *self.state.trigger.lock().unwrap() = Some(pattern.to_vec());
    }

    pub fn silent_since(&self) -> Option<Instant> {
        *self.state.silent_since.lock().unwrap()
    }
}

impl Drop for SilentProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        for socket in self.state.sockets.lock().unwrap().iter() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// `host:port` of a server URL.
pub fn server_address(url: &str) -> String {
    let rest = url.split_once("://").expect("a server URL").1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap().to_string()
}

fn accept_loop(listener: TcpListener, upstream: &str, state: &Arc<State>) {
    let mut pumps = Vec::new();
    while !state.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => panic!("proxy accept: {e}"),
        };
        client.set_nonblocking(false).unwrap();
        state.hold(&client);
        if state.silent() {
            // A black hole: the connection is accepted by the kernel and never answered.
            continue;
        }
        let server = TcpStream::connect(upstream).expect("proxy: connect to the server");
        state.hold(&server);
        for (from, to, watch) in [
            (
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                true,
            ),
            (server, client, false),
        ] {
            let state = state.clone();
            pumps.push(std::thread::spawn(move || pump(from, to, watch, &state)));
        }
    }
    for pump in pumps {
        let _ = pump.join();
    }
}

/// Copies `from` to `to` until the proxy goes silent (then reads nothing more, sends nothing,
/// closes nothing) or is dropped. `watch`: the client's direction, where the trigger is looked
/// for.
fn pump(mut from: TcpStream, mut to: TcpStream, watch: bool, state: &State) {
    from.set_read_timeout(Some(POLL)).unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    while !state.stop.load(Ordering::SeqCst) {
        if state.silent() {
            std::thread::sleep(POLL);
            continue;
        }
        let n = match from.read(&mut buffer) {
            // A peer that closes while the path works: pass the close on, as the network would.
            Ok(0) => {
                if !state.silent() {
                    let _ = to.shutdown(Shutdown::Write);
                }
                return;
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        };
        let chunk = &buffer[..n];
        if watch && triggered(state, chunk) {
            state.go_silent();
            continue;
        }
        if state.silent() || to.write_all(chunk).is_err() {
            continue;
        }
    }
}

fn triggered(state: &State, chunk: &[u8]) -> bool {
    let trigger = state.trigger.lock().unwrap();
    trigger
        .as_deref()
        .is_some_and(|pattern| chunk.windows(pattern.len()).any(|w| w == pattern))
}
