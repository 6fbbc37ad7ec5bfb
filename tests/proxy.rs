//! A TCP proxy placed between two services, so a test can kill the path to
//! an upstream while calls are in flight: `stall` swallows what is sent
//! (the upstream seems to hang), `cut` resets every connection and refuses
//! new ones (the upstream died), `mend` brings it back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

#[derive(Default)]
struct State {
    target: Mutex<Option<SocketAddr>>,
    stalled: AtomicBool,
    cut: AtomicBool,
    /// Bytes swallowed while stalled: a call has reached the proxy.
    swallowed: AtomicU64,
    links: Mutex<JoinSet<()>>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port; forwards once `aim` names the target.
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let accepting = tokio::spawn(accept(listener, state.clone()));
        Proxy {
            addr,
            state,
            accepting,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn aim(&self, target: SocketAddr) {
        *self.state.target.lock().unwrap() = Some(target);
    }

    /// From now on nothing passes in either direction.
    pub fn stall(&self) {
        self.state.swallowed.store(0, Ordering::SeqCst);
        self.state.stalled.store(true, Ordering::SeqCst);
    }

    /// Whether a call was swallowed since `stall`.
    pub fn swallowed_a_call(&self) -> bool {
        self.state.swallowed.load(Ordering::SeqCst) > 0
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        self.state.links.lock().unwrap().abort_all();
    }

    /// Forwards again.
    pub fn mend(&self) {
        self.state.stalled.store(false, Ordering::SeqCst);
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.state.links.lock().unwrap().abort_all();
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    while let Ok((client, _)) = listener.accept().await {
        let target = *state.target.lock().unwrap();
        let (Some(target), false) = (target, state.cut.load(Ordering::SeqCst)) else {
            continue; // dropped: the client sees the connection closed
        };
        let Ok(upstream) = TcpStream::connect(target).await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (upstream_read, upstream_write) = upstream.into_split();
        let mut links = state.links.lock().unwrap();
        // A cut while this connection was being made reaches it too
        // (`cut` sets the flag before it takes the lock).
        if state.cut.load(Ordering::SeqCst) {
            continue;
        }
        links.spawn(pipe(client_read, upstream_write, state.clone()));
        links.spawn(pipe(upstream_read, client_write, state.clone()));
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<State>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if state.stalled.load(Ordering::SeqCst) {
            state.swallowed.fetch_add(n as u64, Ordering::SeqCst);
            continue;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
