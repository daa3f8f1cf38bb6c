//! Free loopback ports.

use std::net::{SocketAddr, TcpListener};

/// A loopback address with a port that was free when asked (the OS picks it).
pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address")
}
