// Objects: browse a bucket by prefix (delimiter "/"), upload files (in
// parts above 8 MiB, with a progress bar), download, delete, details
// (HeadObject: size, ETag, checksum, metadata; versions if the bucket has
// versioning). Every transfer is S3 itself, presigned here with the secret
// of the access key the operator picks (GetKeyInfo with showSecretKey):
// what the key may not do, S3 refuses, and the page says so.

import { call } from "../api.js";
import { clear, confirmButton, describe, formatBytes, formatDate, h, messages, table }
  from "../dom.js";
import { S3Client } from "../s3.js";
import { bucketName } from "./buckets.js";

// What the details show of a HeadObject answer.
const SHOWN_HEADERS = new RegExp("^(content-|etag|last-modified|x-amz-(meta-|checksum-|version-id"
                                 + "|server-side|storage|object-lock|tagging))");

// Access key id -> secret, for this tab's lifetime (memory only).
const secrets = new Map();

async function clientFor(keyId, region) {
  if (!secrets.has(keyId)) {
    const key = await call("GetKeyInfo", { query: { id: keyId, showSecretKey: "true" } });
    secrets.set(keyId, key.secretAccessKey);
  }
  return new S3Client({ accessKeyId: keyId, secretAccessKey: secrets.get(keyId) }, region);
}

function target(bucket, key, prefix) {
  const params = new URLSearchParams({ bucket, key, prefix: prefix || "" });
  return `#/objects?${params}`;
}

export async function render(root, ctx) {
  const notes = messages();
  root.append(h("h1", null, "Objects"), notes.el);
  if (!ctx.settings.s3Path) {
    root.append(h("p", { class: "error" },
      "Object transfers are not available: this node's admin endpoint offers no S3 path."));
    return;
  }
  const buckets = await call("ListBuckets");
  const chosenBucket = ctx.params.get("bucket") || (buckets[0] && buckets[0].id) || "";
  const bucketSelect = h("select", { id: "objects-bucket" }, buckets.map((b) =>
    h("option", { value: b.id, selected: b.id === chosenBucket }, bucketName(b))));
  const keySelect = h("select", { id: "objects-key" });
  const open = h("button", { type: "button", id: "objects-open", class: "primary" }, "Open");
  root.append(h("div", { class: "inline picker" },
    h("label", null, h("span", null, "Bucket"), bucketSelect),
    h("label", null, h("span", null, "With access key"), keySelect), open));
  if (buckets.length === 0) {
    root.append(h("p", { class: "muted" }, "No buckets yet."));
    return;
  }

  let info = null;
  async function fillKeys() {
    clear(keySelect);
    open.disabled = true;
    try {
      info = await call("GetBucketInfo", { query: { id: bucketSelect.value } });
    } catch (err) {
      notes.error(err);
      return;
    }
    const usable = info.keys.filter((k) => k.permissions.read || k.permissions.write);
    for (const k of usable) {
      const perms = ["read", "write", "owner"].filter((p) => k.permissions[p]).join("/");
      keySelect.append(h("option", { value: k.accessKeyId,
                                     selected: k.accessKeyId === ctx.params.get("key") },
                         `${k.name} (${perms})`));
    }
    if (usable.length === 0) {
      keySelect.append(h("option", { value: "" }, "no key may read or write it"));
    } else {
      open.disabled = false;
    }
  }
  bucketSelect.addEventListener("change", fillKeys);
  open.addEventListener("click", () => {
    ctx.navigate(target(bucketSelect.value, keySelect.value, ""));
  });
  await fillKeys();

  const keyId = ctx.params.get("key");
  if (!ctx.params.get("bucket") || !keyId || !info || info.id !== ctx.params.get("bucket")) {
    root.append(h("p", { class: "muted" }, "Pick a bucket and an access key, then Open."));
    return;
  }
  const entry = info.keys.find((k) => k.accessKeyId === keyId);
  // S3 names a bucket by a global alias, or by a local alias of the key.
  const name = (info.globalAliases || [])[0]
    || (entry && (entry.bucketLocalAliases || [])[0]);
  if (!name) {
    notes.error(new Error("this bucket has no global alias, nor a local alias of this key: "
                          + "S3 cannot name it"));
    return;
  }
  await browse(root, ctx, { info, name, keyId, prefix: ctx.params.get("prefix") || "", notes });
}

async function browse(root, ctx, { info, name, keyId, prefix, notes }) {
  const s3 = await clientFor(keyId, ctx.settings.s3Region);

  // -- where we are ------------------------------------------------------------
  const crumbs = h("nav", { class: "crumbs", id: "crumbs" },
    h("a", { href: target(info.id, keyId, "") }, name), " / ");
  let walked = "";
  for (const part of prefix.split("/").filter(Boolean)) {
    walked += `${part}/`;
    crumbs.append(h("a", { href: target(info.id, keyId, walked) }, part), " / ");
  }
  root.append(crumbs);

  // -- upload ------------------------------------------------------------------
  const file = h("input", { type: "file", id: "upload-file", multiple: true });
  const start = h("button", { type: "button", id: "upload-start", class: "primary" }, "Upload");
  const progress = h("progress", { id: "upload-progress", max: "1", value: "0", hidden: true });
  const status = h("span", { id: "upload-status", role: "status" });
  root.append(h("div", { class: "upload inline" },
    h("label", null, h("span", null, `Upload to ${prefix || "/"}`), file), start, progress,
    status));
  start.addEventListener("click", async () => {
    const files = Array.from(file.files);
    if (files.length === 0) {
      status.textContent = "Choose one or more files first.";
      return;
    }
    start.disabled = true;
    progress.hidden = false;
    delete status.dataset.done;
    const total = files.reduce((a, f) => a + f.size, 0);
    let before = 0;
    try {
      for (const one of files) {
        await s3.upload(name, prefix + one.name, one, (sent) => {
          progress.max = Math.max(total, 1);
          progress.value = before + sent;
          status.textContent = `${one.name}: ${formatBytes(before + sent)} of `
            + `${formatBytes(total)}`;
        });
        before += one.size;
      }
      progress.value = progress.max;
      status.textContent = `Uploaded ${files.length} file${files.length > 1 ? "s" : ""} `
        + `(${formatBytes(total)}).`;
      status.dataset.done = "true";
      file.value = "";
      await drawList();
    } catch (err) {
      status.textContent = "";
      notes.error(err);
    } finally {
      start.disabled = false;
    }
  });

  // -- listing ---------------------------------------------------------------------
  const listBox = h("div", { id: "listing" });
  const details = h("div", { id: "object-details" });
  root.append(listBox, details);

  async function showDetails(key) {
    clear(details);
    try {
      const headers = await s3.head(name, key);
      const rows = headers
        .filter(([n]) => n !== "content-security-policy")
        .filter(([n]) => SHOWN_HEADERS.test(n))
        .map(([n, v]) => [n, h("span", { class: "mono" }, v)]);
      details.append(h("h2", null, "Object ", h("span", { class: "object-key" }, key)),
        table(["Header", "Value"], rows, { class: "facts" }));
      if (info.versioning) {
        const versions = await s3.versions(name, key);
        details.append(h("h3", null, "Versions"), table(
          ["Version", "Latest", "Modified", "Size", ""],
          versions.map((v) => [h("span", { class: "mono" }, v.versionId), v.isLatest ? "yes" : "",
            formatDate(v.lastModified), v.deleteMarker ? "delete marker" : formatBytes(v.size),
            v.deleteMarker ? "" : h("a", { class: "button small",
              href: "#", onclick: async (event) => {
                event.preventDefault();
                location.assign(await s3.downloadUrl(name, key, v.versionId));
              } }, "Download")])));
      }
    } catch (err) {
      details.append(h("p", { class: "error" }, describe(err)));
    }
  }

  async function drawList(token) {
    let page;
    try {
      page = await s3.list(name, prefix, token);
    } catch (err) {
      notes.error(err);
      return;
    }
    const rows = [];
    for (const folder of page.folders) {
      rows.push(h("tr", { class: "folder" },
        h("td", null, h("a", { href: target(info.id, keyId, folder) },
                        folder.slice(prefix.length))),
        h("td", null, "folder"), h("td"), h("td"), h("td")));
    }
    for (const object of page.objects) {
      const link = h("a", { class: "button small download",
                            download: object.key.split("/").pop() || "download" }, "Download");
      link.href = await s3.downloadUrl(name, object.key);
      rows.push(h("tr", { class: "object", dataset: { key: object.key } },
        h("td", null, h("button", { type: "button", class: "object-name",
                                    onclick: () => showDetails(object.key) },
                        object.key.slice(prefix.length))),
        h("td", null, formatBytes(object.size)),
        h("td", null, formatDate(object.lastModified)),
        h("td", { class: "mono" }, object.etag || ""),
        h("td", null, link, " ", confirmButton("Delete", async () => {
          try {
            await s3.delete(name, object.key);
            clear(details);
            await drawList();
          } catch (err) {
            notes.error(err);
          }
        }, { class: "danger small delete-object" }))));
    }
    const tableEl = table(["Name", "Size", "Modified", "ETag", ""], rows, { id: "objects" });
    const box = h("div", null, tableEl);
    if (rows.length === 0) box.append(h("p", { class: "muted", id: "objects-empty" }, "Empty."));
    if (page.next) {
      box.append(h("button", { type: "button", onclick: () => drawList(page.next) },
                   "Next page"));
    }
    listBox.replaceChildren(box);
    listBox.dataset.loaded = String(Date.now());
  }

  await drawList();
}
