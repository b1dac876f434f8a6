use std::net::SocketAddr;

use crate::{
    util::init_logging,
    base::{CommunicationChannel, CommunicationError, Message, ProtocolServer},
};
use axum::{
    Router,
    extract::{
        State, WebSocketUpgrade,
        ws::{self, WebSocket},
    },
    routing::get,
};
use futures::StreamExt;

/// polyclip: where a server tells whether it listens (`Ok`) or why it cannot (`Err`), once it has tried to bind.
pub type ListeningSender = tokio::sync::oneshot::Sender<Result<(), String>>;

#[derive(Clone, Debug)]
pub struct WsServer {
    port: u16,
    router: Router<()>,
    // polyclip: told once the port is bound (see `notify_listening`).
    listening: Option<std::sync::Arc<std::sync::Mutex<Option<ListeningSender>>>>,
}

pub struct WsServerChannel {
    inner: WebSocket,
}

impl WsServer {
    pub fn new(port: u16) -> Self {
        Self {
            port,
            router: Router::new(),
            listening: None,
        }
    }

    /// polyclip: `listening` is told when the server has bound its port, or why it could not. A node that
    /// registers with the others only after this cannot be asked for a tensor before it listens (the others were
    /// refused, and took it for a lost node, when the server's task had not run yet).
    pub fn notify_listening(mut self, listening: ListeningSender) -> Self {
        self.listening = Some(std::sync::Arc::new(std::sync::Mutex::new(Some(listening))));
        self
    }
}

/// polyclip: a test hook: with `POLYCLIP_TEST_LISTEN_DELAY_MS` set, a server that is to tell when it listens (a
/// node's data service, not the orchestrator) waits that long before it binds its port (the two-node test uses it
/// to show that nodes register only once their data service listens).
const LISTEN_DELAY_VAR: &str = "POLYCLIP_TEST_LISTEN_DELAY_MS";

impl ProtocolServer for WsServer {
    type Channel = WsServerChannel;
    type Error = WsServerError;

    async fn serve<F>(self, shutdown: F) -> Result<(), Self::Error>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // polyclip: logs only when BURN_COMMUNICATION_LOG is set, on stderr: they printed every connection and
        // transfer on stdout, in the middle of the program's own output.
        init_logging();

        let address = format!("0.0.0.0:{}", self.port);
        log::info!("Starting server {address}");

        // polyclip: the test hook, then tell whoever waits whether the port is bound.
        if let Some(delay) = std::env::var(LISTEN_DELAY_VAR)
            .ok()
            .and_then(|ms| ms.parse::<u64>().ok())
            .filter(|_| self.listening.is_some())
        {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let bound = tokio::net::TcpListener::bind(address.as_str()).await;
        let sender = self
            .listening
            .as_ref()
            .and_then(|listening| listening.lock().ok()?.take());
        if let Some(sender) = sender {
            let told = match &bound {
                Ok(_) => Ok(()),
                Err(error) => Err(format!("cannot listen on {address}: {error}")),
            };
            // Whoever asked may have stopped waiting; then nobody needs to know.
            let _ = sender.send(told);
        }
        let listener = bound?;

        axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;

        Ok(())
    }

    fn route<C, Fut>(mut self, path: &str, callback: C) -> Self
    where
        C: FnOnce(WsServerChannel) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // Format path: should start with a /
        let path = if path.starts_with("/") {
            path.to_owned()
        } else {
            format!("/{path}")
        };

        let method = get(|ws: WebSocketUpgrade, _: State<()>| async {
            ws.on_upgrade(async move |socket| {
                callback(WsServerChannel { inner: socket }).await;
            })
        });

        self.router = self.router.route(&path, method);

        self
    }
}

impl CommunicationChannel for WsServerChannel {
    type Error = WsServerError;

    async fn send(&mut self, message: Message) -> Result<(), WsServerError> {
        self.inner.send(ws::Message::Binary(message.data)).await?;

        Ok(())
    }

    async fn recv(&mut self) -> Result<Option<Message>, WsServerError> {
        match self.inner.next().await {
            Some(next) => match next {
                Ok(ws::Message::Binary(data)) => Ok(Some(Message { data })),
                Ok(ws::Message::Close(_close_frame)) => Ok(None),
                Err(err) => Err(WsServerError::Axum(err)),
                msg => Err(WsServerError::UnknownMessage(format!("{msg:?}"))),
            },
            None => todo!(),
        }
    }

    async fn close(&mut self) -> Result<(), WsServerError> {
        let reason = "Peer is closing".to_string();

        self.inner
            .send(ws::Message::Close(Some(ws::CloseFrame {
                code: 1000, // code: Normal
                reason: reason.clone().into(),
            })))
            .await?;

        Ok(())
    }
}

#[derive(Debug)]
pub enum WsServerError {
    Io(std::io::Error),
    Axum(axum::Error),
    UnknownMessage(String),
    Other(String),
}

impl CommunicationError for WsServerError {}

impl From<std::io::Error> for WsServerError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}

impl From<axum::Error> for WsServerError {
    fn from(err: axum::Error) -> Self {
        Self::Axum(err)
    }
}
