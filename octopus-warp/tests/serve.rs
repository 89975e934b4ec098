//! `octopus_warp::serve` over real loopback sockets: WebSocket upgrades, HTTP/2, the header
//! read timeout, the client's address; and `metrics_filter` leaving other routes' answers alone.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use octopus_core::testing::exposition::HttpMetrics;
use octopus_core::testing::scenario::read_until_closed;
use octopus_core::{Octopus, OctopusConfig, TracesExporter};
use octopus_warp::{ServeOptions, metrics_filter, route};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use warp::Filter;
use warp::Reply as _;
use warp::http::StatusCode;
use warp::reply::Response;

/// Every wait on the network is bounded by this.
const BOUND: Duration = Duration::from_secs(10);

fn octopus() -> Octopus {
    let mut config = OctopusConfig::prometheus("warp-serve", ["request_count"]).unwrap();
    config.traces_exporter = TracesExporter::None;
    Octopus::new(config).unwrap()
}

fn app(
    octopus: &Octopus,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let hello = warp::path!("hello" / String)
        .and(route("/hello/{name}"))
        .and(warp::get())
        .map(|name: String| format!("hello, {name}").into_response());
    let echo = warp::path!("echo")
        .and(route("/echo"))
        .and(warp::ws())
        .map(|ws: warp::ws::Ws| {
            ws.on_upgrade(|socket| async move {
                let (sink, stream) = socket.split();
                let _ = stream.forward(sink).await;
            })
            .into_response()
        });
    let peer = warp::path!("peer")
        .and(octopus_warp::remote())
        .and(warp::addr::remote())
        .map(|ours: Option<SocketAddr>, warps: Option<SocketAddr>| {
            format!("{ours:?} {warps:?}").into_response()
        });
    hello
        .or(echo)
        .unify()
        .or(peer)
        .unify()
        .or(metrics_filter(octopus))
        .unify()
}

struct Server {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(octopus: &Octopus, options: ServeOptions) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = octopus_warp::observe(octopus.clone(), warp::service(app(octopus)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            octopus_warp::serve_with(listener, service, &options, async {
                let _ = stopped.await;
            })
            .await
        });
        Server { addr, stop, task }
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(BOUND, self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warp_websocket_route_echoes_through_observe_and_serve() {
    let octopus = octopus();
    let server = Server::start(&octopus, ServeOptions::new()).await;

    let (mut socket, response) = tokio::time::timeout(
        BOUND,
        tokio_tungstenite::connect_async(format!("ws://{}/echo", server.addr)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "again"] {
        socket.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(BOUND, socket.next())
            .await
            .expect("an echo")
            .expect("the socket stays open")
            .unwrap();
        assert_eq!(echoed, Message::text(text));
    }
    socket.close(None).await.unwrap();

    let metrics = octopus.scrape(&octopus_core::NoHeaders);
    let metrics = String::from_utf8(metrics.body).unwrap();
    assert_eq!(
        HttpMetrics::parse(&metrics, "warp-serve").requests("GET", "101", "/echo"),
        Some(1.0),
        "{metrics}"
    );
    server.stop().await;
}

/// GET `path` over `sender`'s HTTP/2 connection: the version, status and body.
async fn get_h2(
    sender: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
) -> (http::Version, u16, String) {
    let request = http::Request::get(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap();
    let response = tokio::time::timeout(BOUND, sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let (version, status) = (response.version(), response.status().as_u16());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (version, status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_with_prior_knowledge_is_answered_and_counted() {
    let octopus = octopus();
    let server = Server::start(&octopus, ServeOptions::new()).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);

    for name in ["h2", "again"] {
        let answer = get_h2(&mut sender, server.addr, &format!("/hello/{name}")).await;
        assert_eq!(
            answer,
            (http::Version::HTTP_2, 200, format!("hello, {name}"))
        );
    }
    let (version, status, metrics) = get_h2(&mut sender, server.addr, "/metrics").await;
    assert_eq!((version, status), (http::Version::HTTP_2, 200));
    assert_eq!(
        HttpMetrics::parse(&metrics, "warp-serve").requests("GET", "200", "/hello/{name}"),
        Some(2.0),
        "{metrics}"
    );
    drop(sender);
    let _ = tokio::time::timeout(BOUND, connection).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_whole_request_head_are_closed_after_the_timeout() {
    let octopus = octopus();
    let options = ServeOptions::new().header_read_timeout(Duration::from_secs(1));
    let server = Server::start(&octopus, options).await;

    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /hello/slow HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut whole = TcpStream::connect(server.addr).await.unwrap();
    whole
        .write_all(b"GET /hello/whole HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();

    assert_eq!(read_until_closed(&mut idle).await, b"");
    assert_eq!(read_until_closed(&mut half).await, b"");
    // A whole request is answered; its idle keep-alive connection is closed afterwards.
    let answered = String::from_utf8(read_until_closed(&mut whole).await).unwrap();
    assert!(answered.starts_with("HTTP/1.1 200 OK\r\n"), "{answered}");
    assert!(answered.ends_with("hello, whole"), "{answered}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_address_is_read_with_octopus_warp_remote() {
    let octopus = octopus();
    let server = Server::start(&octopus, ServeOptions::new()).await;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    let local = client.local_addr().unwrap();
    client
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answered = String::from_utf8(read_until_closed(&mut client).await).unwrap();
    // warp fills `warp::addr::remote()` only in its own server.
    assert!(
        answered.ends_with(&format!("Some({local}) None")),
        "{answered}"
    );
    server.stop().await;

    // Under `warp::test`, `remote` yields the address warp's own extension carries.
    let given: SocketAddr = "127.0.0.1:4242".parse().unwrap();
    let response = warp::test::request()
        .path("/peer")
        .remote_addr(given)
        .reply(&app(&octopus))
        .await;
    assert_eq!(response.body(), &format!("Some({given}) Some({given})"));
}

/// `routes` as an application has them: a GET route and a POST route.
fn routes() -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync {
    let get = warp::path!("hello")
        .and(warp::get())
        .map(|| "hello".into_response());
    let post = warp::path!("form")
        .and(warp::post())
        .map(|| "posted".into_response());
    get.or(post).unify()
}

async fn status(
    filter: &(
         impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static
     ),
    method: &str,
    path: &str,
    authorization: Option<&[u8]>,
) -> u16 {
    let mut request = warp::test::request().method(method).path(path);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.reply(filter).await.status().as_u16()
}

#[tokio::test]
async fn metrics_filter_leaves_other_routes_answers_unchanged() {
    let non_ascii: &[u8] = b"Bearer caf\xc3\xa9";
    for octopus in [
        octopus(),
        Octopus::builder()
            .config(OctopusConfig {
                traces_exporter: TracesExporter::None,
                ..OctopusConfig::prometheus("warp-serve", ["request_count"]).unwrap()
            })
            .metrics_bearer_token("s3cret")
            .build()
            .unwrap(),
    ] {
        let with = routes().or(metrics_filter(&octopus)).unify();
        for (method, path, authorization, expected) in [
            ("POST", "/unknown", None, 404),
            ("GET", "/unknown", None, 404),
            ("GET", "/unknown", Some(non_ascii), 404),
            ("POST", "/hello", None, 405),
            ("GET", "/form", None, 405),
            ("GET", "/hello", Some(non_ascii), 200),
        ] {
            let alone = status(&routes(), method, path, authorization).await;
            assert_eq!(alone, expected, "{method} {path} without metrics_filter");
            let or_ed = status(&with, method, path, authorization).await;
            assert_eq!(or_ed, expected, "{method} {path} with metrics_filter");
        }
        assert_eq!(status(&with, "POST", "/metrics", None).await, 405);
        let token = octopus.config().metrics_bearer_token.is_some();
        let (without, wrong) = if token { (401, 401) } else { (200, 200) };
        assert_eq!(status(&with, "GET", "/metrics", None).await, without);
        assert_eq!(
            status(&with, "GET", "/metrics", Some(non_ascii)).await,
            wrong
        );
        let right = status(&with, "GET", "/metrics", Some(b"Bearer s3cret")).await;
        assert_eq!(right, 200);
    }
}

#[tokio::test]
async fn with_a_metrics_address_metrics_filter_leaves_every_request_alone() {
    let octopus = Octopus::builder()
        .config(OctopusConfig {
            traces_exporter: TracesExporter::None,
            ..OctopusConfig::prometheus("warp-serve", ["request_count"]).unwrap()
        })
        .metrics_address("127.0.0.1:0")
        .build()
        .unwrap();
    let with = routes().or(metrics_filter(&octopus)).unify();
    let non_ascii: &[u8] = b"Bearer \xff";
    for method in ["GET", "POST", "HEAD"] {
        for path in ["/metrics", "/unknown"] {
            for authorization in [None, Some(non_ascii)] {
                assert_eq!(
                    status(&with, method, path, authorization).await,
                    404,
                    "{method} {path} {authorization:?}"
                );
            }
        }
    }
    assert_eq!(status(&with, "GET", "/hello", Some(non_ascii)).await, 200);
    assert_eq!(status(&with, "POST", "/hello", None).await, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tcp_a_non_ascii_authorization_on_an_unknown_path_is_a_404() {
    let octopus = octopus();
    let server = Server::start(&octopus, ServeOptions::new()).await;
    for request in [
        &b"GET /unknown HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\r\nConnection: close\r\n\r\n"[..],
        b"POST /unknown HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ] {
        let mut client = TcpStream::connect(server.addr).await.unwrap();
        client.write_all(request).await.unwrap();
        let answered = read_until_closed(&mut client).await;
        let answered = String::from_utf8_lossy(&answered);
        assert!(answered.starts_with("HTTP/1.1 404 "), "{answered}");
    }
    server.stop().await;
}
