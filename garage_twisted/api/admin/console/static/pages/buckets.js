// Buckets: the list with objects, bytes and unfinished uploads; create and
// delete (refused while not empty); one bucket's aliases, quotas, website,
// keys, and its CORS rules and lifecycle (read through S3 with one of its
// keys: neither is in the admin API). ListBuckets, GetBucketInfo,
// CreateBucket, DeleteBucket, UpdateBucket, AddBucketAlias,
// RemoveBucketAlias, GetKeyInfo.

import { call, getSettings } from "../api.js";
import { clear, confirmButton, describe, field, form, formatBytes, formatDate, h, messages,
         shortId, table } from "../dom.js";
import { S3Client } from "../s3.js";

export function bucketName(info) {
  if (info.globalAliases && info.globalAliases.length) return info.globalAliases[0];
  const local = (info.localAliases || [])[0];
  return local ? `${local.alias} (local to ${shortId(local.accessKeyId)})` : shortId(info.id);
}

// GetBucketInfo of every bucket (in parallel), each {info} or {error}.
export async function allBucketInfos(list) {
  return Promise.all(list.map(async (bucket) => {
    try {
      return { bucket, info: await call("GetBucketInfo", { query: { id: bucket.id } }) };
    } catch (error) {
      return { bucket, error };
    }
  }));
}

function quotaText(quotas) {
  if (!quotas) return "–";
  const parts = [];
  if (quotas.maxSize !== null && quotas.maxSize !== undefined) {
    parts.push(formatBytes(quotas.maxSize));
  }
  if (quotas.maxObjects !== null && quotas.maxObjects !== undefined) {
    parts.push(`${quotas.maxObjects} objects`);
  }
  return parts.length ? parts.join(", ") : "none";
}

export async function render(root, ctx) {
  const id = ctx.params.get("id");
  if (id) return renderOne(root, ctx, id);
  const notes = messages();
  root.append(h("h1", null, "Buckets"), notes.el);

  const name = h("input", { id: "new-bucket-name", required: true, placeholder: "my-bucket",
                            pattern: "[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]" });
  root.append(form({ id: "create-bucket", class: "inline" }, [field("New bucket", name)],
    "Create bucket", async () => {
      try {
        const info = await call("CreateBucket", { body: { globalAlias: name.value.trim() } });
        ctx.flash(`Bucket ${bucketName(info)} created.`);
        ctx.refresh();
      } catch (err) {
        notes.error(err);
      }
    }));

  const list = await call("ListBuckets");
  if (list.length === 0) {
    root.append(h("p", { class: "muted" }, "No buckets yet."));
    return;
  }
  const infos = await allBucketInfos(list);
  root.append(table(
    ["Bucket", "ID", "Objects", "Size", "Unfinished uploads", "Website", "Quotas", "Created", ""],
    infos.map(({ bucket, info, error }) => {
      const label = bucketName(info || bucket);
      const open = h("a", { href: `#/buckets?id=${encodeURIComponent(bucket.id)}` }, label);
      if (error) {
        return h("tr", { dataset: { bucket: bucket.id } }, h("td", null, open),
          h("td", { class: "mono" }, shortId(bucket.id)),
          h("td", { colspan: "7", class: "error" }, describe(error)));
      }
      return h("tr", { dataset: { bucket: bucket.id, name: label } },
        h("td", { class: "bucket-name" }, open),
        h("td", { class: "mono", title: bucket.id }, shortId(bucket.id)),
        h("td", null, String(info.objects)),
        h("td", null, formatBytes(info.bytes)),
        h("td", null, String(info.unfinishedUploads)),
        h("td", null, info.websiteAccess ? "on" : "off"),
        h("td", null, quotaText(info.quotas)),
        h("td", null, formatDate(info.created)),
        h("td", null, h("a", { class: "button small",
                               href: `#/objects?bucket=${encodeURIComponent(bucket.id)}` },
                        "Browse"), " ",
          confirmButton("Delete", async () => {
            try {
              await call("DeleteBucket", { query: { id: bucket.id } });
              ctx.flash(`Bucket ${label} deleted.`);
              ctx.refresh();
            } catch (err) {
              notes.error(err);
            }
          }, { class: "danger small delete-bucket" })));
    }), { id: "buckets" }));
  return undefined;
}

async function renderOne(root, ctx, id) {
  const notes = messages();
  let info = await call("GetBucketInfo", { query: { id } });
  root.append(h("p", null, h("a", { href: "#/buckets" }, "← Buckets")),
    h("h1", null, "Bucket ", h("span", { class: "bucket-name" }, bucketName(info))), notes.el);

  async function update(body, what) {
    try {
      info = await call("UpdateBucket", { query: { id }, body });
      ctx.flash(`${what} saved.`);
      ctx.refresh();
    } catch (err) {
      notes.error(err);
    }
  }

  root.append(table(["", ""], [
    ["ID", h("span", { class: "mono" }, info.id)],
    ["Created", formatDate(info.created)],
    ["Objects", String(info.objects)],
    ["Size", formatBytes(info.bytes)],
    ["Unfinished uploads", String(info.unfinishedUploads)],
    ["Versioning", info.versioning || "never enabled"],
    ["Public", !info.public ? "–"
      : info.public.isPublic ? info.public.reasons.join(" ") : "no"],
  ], { class: "facts" }));

  // -- aliases -------------------------------------------------------------
  const alias = h("input", { id: "add-alias", required: true, placeholder: "other-name" });
  root.append(h("h2", null, "Aliases"),
    h("ul", { id: "aliases" }, (info.globalAliases || []).map((name) => h("li", null,
      h("span", { class: "mono" }, name), " ",
      confirmButton("Remove", async () => {
        try {
          await call("RemoveBucketAlias", { body: { bucketId: id, globalAlias: name } });
          ctx.refresh();
        } catch (err) {
          notes.error(err);
        }
      }, { class: "danger small" })))),
    form({ class: "inline" }, [field("Global alias", alias)], "Add alias", async () => {
      try {
        await call("AddBucketAlias", { body: { bucketId: id, globalAlias: alias.value.trim() } });
        ctx.refresh();
      } catch (err) {
        notes.error(err);
      }
    }));

  // -- quotas ----------------------------------------------------------------
  const maxSize = h("input", { type: "number", min: "1", id: "quota-size",
                               value: info.quotas.maxSize === null ? "" : info.quotas.maxSize });
  const maxObjects = h("input", { type: "number", min: "1", id: "quota-objects",
                                  value: info.quotas.maxObjects === null ? ""
                                    : info.quotas.maxObjects });
  root.append(h("h2", null, "Quotas"),
    form({ class: "inline", id: "quotas-form" }, [
      field("Max size (bytes)", maxSize), field("Max objects", maxObjects)],
    "Save quotas", () => update({ quotas: {
      maxSize: maxSize.value ? Number(maxSize.value) : null,
      maxObjects: maxObjects.value ? Number(maxObjects.value) : null } }, "Quotas")));

  // -- website -----------------------------------------------------------------
  const config = info.websiteConfig || {};
  const enabled = h("input", { type: "checkbox", id: "website-on", checked: info.websiteAccess });
  const index = h("input", { id: "website-index", value: config.indexDocument || "index.html" });
  const errorDoc = h("input", { id: "website-error", value: config.errorDocument || "" });
  root.append(h("h2", null, "Website"),
    form({ class: "inline", id: "website-form" }, [
      field("Serve as a website", enabled), field("Index document", index),
      field("Error document", errorDoc)],
    "Save website", () => update({ websiteAccess: enabled.checked
      ? { enabled: true, indexDocument: index.value.trim() || "index.html",
          errorDocument: errorDoc.value.trim() || null }
      : { enabled: false } }, "Website")));

  // -- keys ----------------------------------------------------------------------
  root.append(h("h2", null, "Keys"), info.keys.length === 0
    ? h("p", { class: "muted" }, "No key has access. Grant one on the Keys page.")
    : table(["Key", "ID", "Read", "Write", "Owner", "Local aliases"], info.keys.map((k) => [
      k.name, h("span", { class: "mono" }, k.accessKeyId),
      k.permissions.read ? "yes" : "no", k.permissions.write ? "yes" : "no",
      k.permissions.owner ? "yes" : "no", (k.bucketLocalAliases || []).join(", ")])));

  // -- CORS and lifecycle (S3) ------------------------------------------------------
  const s3Box = h("div", { id: "bucket-s3-config" });
  root.append(h("h2", null, "CORS and lifecycle"), s3Box);
  const owner = info.keys.find((k) => k.permissions.owner);
  const settings = await getSettings();
  if (!settings.s3Path) {
    s3Box.append(h("p", { class: "muted" }, "This node's admin endpoint offers no S3 path."));
  } else if (!owner || !(info.globalAliases || []).length) {
    s3Box.append(h("p", { class: "muted" },
      "Read through S3 with a key that owns the bucket, by its global alias: "
      + "grant a key the owner permission to see them here."));
  } else {
    s3Box.append(h("button", { type: "button", id: "load-s3-config", onclick: async () => {
      clear(s3Box);
      try {
        const key = await call("GetKeyInfo", { query: { id: owner.accessKeyId,
                                                        showSecretKey: "true" } });
        const s3 = new S3Client({ accessKeyId: key.accessKeyId,
                                  secretAccessKey: key.secretAccessKey }, settings.s3Region);
        const bucket = info.globalAliases[0];
        const [cors, lifecycle] = await Promise.all([
          s3.bucketConfig(bucket, "cors"), s3.bucketConfig(bucket, "lifecycle")]);
        s3Box.append(
          h("p", { class: "muted" }, `Read with key ${owner.name} (${owner.accessKeyId}).`),
          h("h3", null, "CORS rules"), cors ? h("pre", { id: "bucket-cors" }, cors)
            : h("p", null, "No CORS configuration."),
          h("h3", null, "Lifecycle"), lifecycle ? h("pre", { id: "bucket-lifecycle" }, lifecycle)
            : h("p", null, "No lifecycle configuration."));
      } catch (err) {
        s3Box.append(h("p", { class: "error" }, describe(err)));
      }
    } }, `Show (through S3 with key ${owner.name})`));
  }

  root.append(h("h2", null, "Delete"), confirmButton("Delete bucket", async () => {
    try {
      await call("DeleteBucket", { query: { id } });
      ctx.flash(`Bucket ${bucketName(info)} deleted.`);
      ctx.navigate("#/buckets");
    } catch (err) {
      notes.error(err);
    }
  }, { id: "delete-bucket" }));
  return undefined;
}
