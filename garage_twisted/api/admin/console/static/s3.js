// S3 operations for the Objects and Buckets pages, each a presigned
// request to /s3/ on this origin (sigv4.js), signed with one access key the
// operator chose. S3 checks every one of them as it checks any client's:
// the key's rights and the bucket's policy decide, not the admin token.

import { presign } from "./sigv4.js";

export const PART_SIZE = 8 * 1024 * 1024;
// Files above this size go up in parts (CreateMultipartUpload, UploadPart
// per 8 MiB, CompleteMultipartUpload).
export const MULTIPART_THRESHOLD = 8 * 1024 * 1024;

export class S3Error extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function xml(text) {
  return new DOMParser().parseFromString(text, "application/xml");
}

// Text of the first element named `name` under `node` (namespace ignored).
function child(node, name) {
  for (const el of node.children) {
    if (el.localName === name) return el.textContent;
  }
  return null;
}

function children(node, name) {
  return Array.from(node.children).filter((el) => el.localName === name);
}

function errorOf(status, text) {
  if (text && text.includes("<Error")) {
    const root = xml(text).documentElement;
    return new S3Error(status, child(root, "Code") || `HTTP ${status}`,
                       child(root, "Message") || "");
  }
  return new S3Error(status, `HTTP ${status}`, (text || "").trim());
}

export class S3Client {
  // `credentials`: {accessKeyId, secretAccessKey}; `region`: the S3 region.
  constructor(credentials, region) {
    this.credentials = credentials;
    this.region = region;
  }

  url(method, bucket, key, query, headers, expires) {
    return presign({ method, bucket, key, query, headers, expires,
                     credentials: this.credentials, region: this.region });
  }

  async request(method, bucket, key, { query, headers, body } = {}) {
    const url = await this.url(method, bucket, key, query, headers);
    const response = await fetch(url, { method, headers: headers || {}, body,
                                        credentials: "omit", cache: "no-store" });
    const text = method === "HEAD" ? "" : await response.text();
    if (!response.ok) throw errorOf(response.status, text);
    // CompleteMultipartUpload and CopyObject may fail after a 200.
    if (text.startsWith("<?xml") && /<Error>/.test(text.slice(0, 200))) {
      throw errorOf(response.status, text);
    }
    return { response, text };
  }

  // One page of ListObjectsV2 with delimiter "/": {folders, objects, next}.
  async list(bucket, prefix, continuationToken) {
    const { text } = await this.request("GET", bucket, "", {
      query: { "list-type": "2", delimiter: "/", prefix: prefix || "",
               "max-keys": "1000", "continuation-token": continuationToken } });
    const root = xml(text).documentElement;
    return {
      folders: children(root, "CommonPrefixes").map((el) => child(el, "Prefix")),
      objects: children(root, "Contents").map((el) => ({
        key: child(el, "Key"), size: Number(child(el, "Size")),
        lastModified: child(el, "LastModified"), etag: child(el, "ETag"),
      })),
      next: child(root, "IsTruncated") === "true" ? child(root, "NextContinuationToken") : null,
    };
  }

  // HeadObject with its checksum, as a list of [name, value] header pairs.
  async head(bucket, key, versionId) {
    const { response } = await this.request("HEAD", bucket, key, {
      query: { versionId }, headers: { "x-amz-checksum-mode": "ENABLED" } });
    return Array.from(response.headers.entries());
  }

  async versions(bucket, key) {
    const { text } = await this.request("GET", bucket, "", {
      query: { versions: "", prefix: key, "max-keys": "100" } });
    const root = xml(text).documentElement;
    const entries = [...children(root, "Version"), ...children(root, "DeleteMarker")];
    return entries.filter((el) => child(el, "Key") === key).map((el) => ({
      versionId: child(el, "VersionId"), isLatest: child(el, "IsLatest") === "true",
      lastModified: child(el, "LastModified"), size: child(el, "Size"),
      deleteMarker: el.localName === "DeleteMarker",
    }));
  }

  async delete(bucket, key, versionId) {
    await this.request("DELETE", bucket, key, { query: { versionId } });
  }

  // A link that downloads the object (saved under its last path segment).
  downloadUrl(bucket, key, versionId) {
    const name = key.split("/").pop() || "download";
    return this.url("GET", bucket, key, {
      versionId,
      "response-content-disposition":
        `attachment; filename*=UTF-8''${encodeURIComponent(name)}`,
    }, null, 3600);
  }

  // The bucket's CORS rules and lifecycle, as raw XML text, or null if none.
  async bucketConfig(bucket, subresource) {
    try {
      const { text } = await this.request("GET", bucket, "", { query: { [subresource]: "" } });
      return text;
    } catch (err) {
      if (err.status === 404) return null;
      throw err;
    }
  }

  // Uploads a File; onProgress(sent, total). Large files go in parts.
  async upload(bucket, key, file, onProgress) {
    const type = file.type || "application/octet-stream";
    if (file.size <= MULTIPART_THRESHOLD) {
      const url = await this.url("PUT", bucket, key);
      await send("PUT", url, file, { "Content-Type": type },
                 (sent) => onProgress(sent, file.size));
      onProgress(file.size, file.size);
      return;
    }
    const { text } = await this.request("POST", bucket, key, {
      query: { uploads: "" }, headers: { "Content-Type": type } });
    const uploadId = child(xml(text).documentElement, "UploadId");
    const parts = [];
    try {
      for (let offset = 0, number = 1; offset < file.size; offset += PART_SIZE, number += 1) {
        const piece = file.slice(offset, Math.min(offset + PART_SIZE, file.size));
        const url = await this.url("PUT", bucket, key,
                                   { partNumber: String(number), uploadId });
        const etag = await send("PUT", url, piece, {},
                                (sent) => onProgress(offset + sent, file.size));
        parts.push([number, etag]);
      }
      const doc = document.implementation.createDocument(null, "CompleteMultipartUpload");
      for (const [number, etag] of parts) {
        const part = doc.createElement("Part");
        const n = doc.createElement("PartNumber");
        n.textContent = String(number);
        const e = doc.createElement("ETag");
        e.textContent = etag;
        part.append(n, e);
        doc.documentElement.append(part);
      }
      await this.request("POST", bucket, key, {
        query: { uploadId }, headers: { "Content-Type": "application/xml" },
        body: new XMLSerializer().serializeToString(doc) });
      onProgress(file.size, file.size);
    } catch (err) {
      // Leave no unfinished upload behind (best effort).
      this.request("DELETE", bucket, key, { query: { uploadId } }).catch(() => {});
      throw err;
    }
  }
}

// A PUT with upload progress (fetch has none): resolves to the ETag.
function send(method, url, body, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, url);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.addEventListener("progress", (event) => onProgress(event.loaded));
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        resolve(request.getResponseHeader("ETag"));
      } else {
        reject(errorOf(request.status, request.responseText));
      }
    });
    request.addEventListener("error", () => reject(new S3Error(0, "NetworkError",
                                                               "the upload was cut off")));
    request.send(body);
  });
}
