//! One unary gRPC call over a raw HTTP/2 connection: no client-side timer
//! or codec stands between the test and what the server answers, so a test
//! can send bytes no client would (a string that is not UTF-8) and read the
//! exact `grpc-status` the server sent.

pub struct RawCall<'a> {
    pub addr: &'a str,
    /// `/package.Service/Method`.
    pub path: &'a str,
    pub token: &'a str,
    /// Extra headers: `grpc-timeout`, `traceparent`, …
    pub headers: &'a [(&'a str, &'a str)],
}

impl RawCall<'_> {
    /// Sends `message` (encoded protobuf) framed as gRPC; the `grpc-status`.
    pub async fn send(
        &self,
        client: &mut h2::client::SendRequest<bytes::Bytes>,
        message: &[u8],
    ) -> String {
        let mut request = http::Request::post(format!("http://{}{}", self.addr, self.path))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("authorization", format!("Bearer {}", self.token));
        for (name, value) in self.headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).unwrap();
        let mut frame = vec![0u8];
        frame.extend((message.len() as u32).to_be_bytes());
        frame.extend(message);
        let ready = client.clone().ready().await.unwrap();
        *client = ready;
        let (response, mut send) = client.send_request(request, false).unwrap();
        // A server may answer before it reads the body (a deadline already
        // past): the stream is then closed and the body has nowhere to go.
        let _ = send.send_data(frame.into(), true);
        let (head, mut body) = response.await.unwrap().into_parts();
        if let Some(status) = head.headers.get("grpc-status") {
            return status.to_str().unwrap().to_string();
        }
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        let trailers = body.trailers().await.unwrap().unwrap();
        trailers["grpc-status"].to_str().unwrap().to_string()
    }
}

/// An HTTP/2 connection to `addr`, driven in the background.
pub async fn connect(addr: &str) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    client
}
