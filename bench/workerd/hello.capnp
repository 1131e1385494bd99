# workerd serving the wasm hello guest through worker.js; the bench writes hello.wasm beside this
# file (compiled from functions/hello/hello.wat) and picks the port with --socket-addr http=HOST:PORT.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "hello", worker = .hello)],
  sockets = [(name = "http", address = "127.0.0.1:8080", http = (), service = "hello")],
);

const hello :Workerd.Worker = (
  modules = [
    (name = "worker", esModule = embed "worker.js"),
    (name = "hello.wasm", wasm = embed "hello.wasm"),
  ],
  compatibilityDate = "2024-09-23",
);
