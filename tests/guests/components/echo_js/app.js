// echo_js: a wasi:http/proxy component in JavaScript (componentize-js 0.19) for edgefn's tests.
//
// Every answer carries x-echo-method, x-echo-path (path with query), x-echo-count (requests this
// instance has served, counting this one) and each request header NAME as x-echo-header-NAME.
// The query's `do` picks what it does:
//   (none)     200, the request body back
//   do=fetch   fetches `url` and answers its status and body (x-echo-fetched: yes); a refused or
//              failed fetch answers 502 with the error's message
//   do=print   console.log(`text`), console.error("err:" + `text`), then 200 "printed"
//   do=loop    runs forever (the host's deadline must end it)
//   do=raise   throws before answering
let served = 0;

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

async function handle(request) {
  served += 1;
  const url = new URL(request.url);
  const headers = new Headers({
    "x-echo-method": request.method,
    "x-echo-path": url.pathname + url.search,
    "x-echo-count": String(served),
  });
  for (const [name, value] of request.headers) headers.set(`x-echo-header-${name}`, value);
  const query = url.searchParams;
  switch (query.get("do")) {
    case "loop":
      for (;;) {}
    case "raise":
      throw new Error("echo_js was asked to raise");
    case "print":
      console.log(query.get("text") ?? "");
      console.error(`err:${query.get("text") ?? ""}`);
      return new Response("printed", { headers });
    case "fetch":
      try {
        const fetched = await fetch(query.get("url"));
        headers.set("x-echo-fetched", "yes");
        return new Response(await fetched.arrayBuffer(), { status: fetched.status, headers });
      } catch (err) {
        return new Response(String(err?.message ?? err), { status: 502, headers });
      }
    default:
      return new Response(await request.arrayBuffer(), { headers });
  }
}
