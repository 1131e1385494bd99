// hello: an edgefn function in JavaScript, a wasi:http component built by componentize-js.
// Change the greeting and save: `edgefn dev` rebuilds it. `fetch` events carry a standard
// Request; answer with a standard Response (see docs/guests.md).
addEventListener("fetch", (event) =>
  event.respondWith(new Response("Hello from edgefn!\n", { headers: { "content-type": "text/plain" } })),
);
