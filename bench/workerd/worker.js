// The workerd baseline: the same wasm hello guest, driven through guest ABI v1 (docs/abi.md) the
// way the edgefn runner drives it: one instance kept hot, the request encoded into its memory
// through edgefn_alloc, `handle` called, the response decoded from the range it returns.
// workerd cannot call an ABI v1 guest by itself (its wasm support is the JS API), so this is the
// smallest fair host: no validation beyond the bounds, no logs, no metrics, no quotas.
import guest from "./hello.wasm";

const instance = new WebAssembly.Instance(guest, {});
const { memory, edgefn_alloc: alloc, handle } = instance.exports;
const utf8 = new TextEncoder();

function encodeRequest(request, url, body) {
  const parts = [utf8.encode(request.method), utf8.encode(url.pathname + url.search)];
  const headers = [["x-request-id", crypto.randomUUID()], ...request.headers];
  const encoded = headers.map(([name, value]) => [utf8.encode(name.toLowerCase()), utf8.encode(value)]);
  let size = 4 + parts[0].length + 4 + parts[1].length + 4 + 4 + body.length;
  for (const [name, value] of encoded) size += 8 + name.length + value.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  const string = (bytes) => {
    view.setUint32(at, bytes.length, true);
    out.set(bytes, at + 4);
    at += 4 + bytes.length;
  };
  string(parts[0]);
  string(parts[1]);
  view.setUint32(at, encoded.length, true);
  at += 4;
  for (const [name, value] of encoded) {
    string(name);
    string(value);
  }
  string(body);
  return out;
}

function decodeResponse(ptr, len) {
  const bytes = new Uint8Array(memory.buffer, ptr, len);
  const view = new DataView(memory.buffer, ptr, len);
  let at = 0;
  const u32 = () => {
    const n = view.getUint32(at, true);
    at += 4;
    return n;
  };
  const string = () => {
    const n = u32();
    const out = bytes.slice(at, at + n);
    at += n;
    return out;
  };
  const status = u32();
  const headers = new Headers();
  const decoder = new TextDecoder();
  for (let count = u32(); count > 0; count--) headers.append(decoder.decode(string()), decoder.decode(string()));
  const body = string();
  if (at !== len) throw new Error("bad_response: bytes after the body");
  return new Response(body, { status, headers });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname !== "/hello") return new Response(null, { status: 404 });
    const body = new Uint8Array(await request.arrayBuffer());
    const encoded = encodeRequest(request, url, body);
    const ptr = alloc(encoded.length);
    if (ptr === 0) return new Response(null, { status: 500 });
    new Uint8Array(memory.buffer, ptr, encoded.length).set(encoded);
    const packed = handle(ptr, encoded.length);
    return decodeResponse(Number(packed >> 32n), Number(packed & 0xffffffffn));
  },
};
