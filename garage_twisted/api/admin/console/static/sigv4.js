// AWS Signature Version 4 presigned URLs, made in the browser.
//
// The console reaches S3 through /s3/ on its own origin (serve.py hands the
// request to the node's S3 resource with that prefix taken off), so a URL
// is signed for the request S3 sees: this page's host, the path without the
// prefix. Only `host` and the extra headers given are signed; the payload
// is UNSIGNED-PAYLOAD, as in any presigned URL. HMAC-SHA256 comes from
// WebCrypto where the page is a secure context, else from sha256.js.

import { hmacSha256, sha256 } from "./sha256.js";

const encoder = new TextEncoder();

export const S3_BASE = "/s3";

// RFC 3986 encoding, as the canonical request wants it: everything but
// A-Z a-z 0-9 - _ . ~ is %XX of its UTF-8 bytes ("/" included: an object
// key's slashes are encoded too, so the browser's URL parser cannot fold
// a "." or ".." segment of a key).
export function uriEncode(value) {
  return encodeURIComponent(value).replace(/[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const subtle = globalThis.crypto && globalThis.isSecureContext ? globalThis.crypto.subtle : null;

async function hmac(key, message, useSubtle = subtle !== null) {
  const data = typeof message === "string" ? encoder.encode(message) : message;
  if (!useSubtle) return hmacSha256(key, data);
  const imported = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" },
                                          false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", imported, data));
}

async function digest(text, useSubtle = subtle !== null) {
  const data = encoder.encode(text);
  if (!useSubtle) return sha256(data);
  return new Uint8Array(await subtle.digest("SHA-256", data));
}

function amzDate(now) {
  return now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

// The path S3 sees for a bucket and key (key may be empty or undefined).
export function s3Path(bucket, key) {
  if (!bucket) return "/";
  const path = `/${uriEncode(bucket)}`;
  return key === undefined || key === null || key === "" ? path : `${path}/${uriEncode(key)}`;
}

// A presigned URL (relative to this origin) for one S3 request.
// `query`: the request's own parameters; `headers`: headers to sign and
// send (lower-case names); `expires`: seconds.
export async function presign({ method, bucket, key, query, headers, credentials, region,
                                expires = 900, now = new Date(), host = location.host,
                                useSubtle }) {
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const scope = `${day}/${region}/s3/aws4_request`;
  const extra = Object.entries(headers || {}).map(([n, v]) => [n.toLowerCase(), String(v)]);
  const signedHeaders = [["host", host], ...extra].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const params = [
    ...Object.entries(query || {}).filter(([, v]) => v !== undefined && v !== null)
      .map(([n, v]) => [n, String(v)]),
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Credential", `${credentials.accessKeyId}/${scope}`],
    ["X-Amz-Date", date],
    ["X-Amz-Expires", String(expires)],
    ["X-Amz-SignedHeaders", signedHeaders.map(([n]) => n).join(";")],
  ].map(([n, v]) => [uriEncode(n), uriEncode(v)]);
  params.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1));
  const canonicalQuery = params.map(([n, v]) => `${n}=${v}`).join("&");
  const path = s3Path(bucket, key);
  const canonical = [
    method, path, canonicalQuery,
    signedHeaders.map(([n, v]) => `${n}:${v.trim().replace(/\s+/g, " ")}\n`).join(""),
    signedHeaders.map(([n]) => n).join(";"),
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const flag = useSubtle === undefined ? subtle !== null : useSubtle && subtle !== null;
  const toSign = ["AWS4-HMAC-SHA256", date, scope, hex(await digest(canonical, flag))].join("\n");
  let signingKey = encoder.encode(`AWS4${credentials.secretAccessKey}`);
  for (const part of [day, region, "s3", "aws4_request"]) {
    signingKey = await hmac(signingKey, part, flag);
  }
  const signature = hex(await hmac(signingKey, toSign, flag));
  return `${S3_BASE}${path}?${canonicalQuery}&X-Amz-Signature=${signature}`;
}

// For the tests: the fallback and WebCrypto must agree (the page is only a
// secure context on localhost or over HTTPS).
export async function selfTest() {
  const text = "garage \u00e9t\u00e9 " + "x".repeat(200);
  const a = hex(sha256(encoder.encode(text)));
  const b = subtle ? hex(await digest(text, true)) : a;
  const key = encoder.encode("k".repeat(100));
  const c = hex(hmacSha256(key, encoder.encode(text)));
  const d = subtle ? hex(await hmac(key, text, true)) : c;
  return { sha256: a, sha256Subtle: b, hmac: c, hmacSubtle: d, secure: subtle !== null };
}
