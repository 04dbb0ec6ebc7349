// Keys: the list, create (the secret is shown once, in this answer only),
// delete, the "may create buckets" flag, and the key x bucket matrix of
// read / write / owner. ListKeys, CreateKey, DeleteKey, UpdateKey,
// ListBuckets, GetBucketInfo, AllowBucketKey, DenyBucketKey.

import { call } from "../api.js";
import { confirmButton, field, form, h, messages, shortId, table } from "../dom.js";
import { allBucketInfos, bucketName } from "./buckets.js";

const PERMISSIONS = ["read", "write", "owner"];

export async function render(root, ctx) {
  const notes = messages();
  root.append(h("h1", null, "Keys"), notes.el);

  const created = h("div", { id: "created-key" });
  const name = h("input", { id: "new-key-name", required: true, placeholder: "my-app" });
  root.append(form({ id: "create-key", class: "inline" }, [field("New key", name)],
    "Create key", async () => {
      try {
        const key = await call("CreateKey", { body: { name: name.value.trim() } });
        name.value = "";
        // Shown here once: the list below is drawn again without it.
        created.replaceChildren(h("div", { class: "secret-box" },
          h("p", null, h("strong", null, `Key ${key.name} created. `),
            "Copy the secret now: it is not shown again."),
          table(["", ""], [
            ["Access key ID", h("code", { id: "created-key-id" }, key.accessKeyId)],
            ["Secret access key", h("code", { id: "created-key-secret" }, key.secretAccessKey)],
          ], { class: "facts" })));
        await drawList();
      } catch (err) {
        notes.error(err);
      }
    }), created);

  const listBox = h("div");
  root.append(listBox);

  async function drawList() {
    const [keys, buckets] = await Promise.all([call("ListKeys"), call("ListBuckets")]);
    const infos = (await allBucketInfos(buckets)).filter((b) => b.info);
    const box = h("div");
    box.append(h("h2", null, "All keys"));
    if (keys.length === 0) {
      box.append(h("p", { class: "muted" }, "No keys yet."));
      listBox.replaceChildren(box);
      return;
    }
    const details = await Promise.all(keys.map(async (key) => {
      try {
        return await call("GetKeyInfo", { query: { id: key.id } });
      } catch (err) {
        return null;
      }
    }));
    box.append(table(["Name", "Access key ID", "May create buckets", "Buckets", ""],
      keys.map((key, i) => {
        const info = details[i];
        const createFlag = h("input", { type: "checkbox", class: "create-bucket-flag",
                                        checked: Boolean(info && info.permissions.createBucket),
                                        disabled: !info, dataset: { key: key.id } });
        createFlag.addEventListener("change", async () => {
          createFlag.disabled = true;
          try {
            const flag = { createBucket: true };
            const body = createFlag.checked ? { allow: flag } : { deny: flag };
            await call("UpdateKey", { query: { id: key.id }, body });
          } catch (err) {
            createFlag.checked = !createFlag.checked;
            notes.error(err);
          } finally {
            createFlag.disabled = false;
          }
        });
        return h("tr", { dataset: { key: key.id } },
          h("td", null, key.name),
          h("td", { class: "mono" }, key.id),
          h("td", null, createFlag),
          h("td", null, info ? String(info.buckets.length) : "–"),
          h("td", null, confirmButton("Delete", async () => {
            try {
              await call("DeleteKey", { query: { id: key.id } });
              ctx.flash(`Key ${key.name} deleted.`);
              ctx.refresh();
            } catch (err) {
              notes.error(err);
            }
          }, { class: "danger small" })));
      }), { id: "keys" }));

    box.append(h("h2", null, "Permissions"));
    if (infos.length === 0) {
      box.append(h("p", { class: "muted" }, "No buckets yet."));
    } else {
      box.append(
        h("p", { class: "muted" }, "R: read, W: write, O: owner. A change is saved at once."),
        matrix(keys, infos, notes));
    }
    listBox.replaceChildren(box);
  }

  await drawList();
}

function matrix(keys, infos, notes) {
  return table(["Key", ...infos.map(({ info }) => bucketName(info))], keys.map((key) => {
    const cells = infos.map(({ bucket, info }) => {
      const entry = info.keys.find((k) => k.accessKeyId === key.id);
      const current = entry ? entry.permissions : {};
      return h("td", { class: "perm-cell" }, PERMISSIONS.map((perm) => {
        const box = h("input", { type: "checkbox", checked: Boolean(current[perm]),
                                 title: `${perm} on ${bucketName(info)}`,
                                 dataset: { key: key.id, bucket: bucket.id, perm } });
        box.addEventListener("change", async () => {
          box.disabled = true;
          try {
            await call(box.checked ? "AllowBucketKey" : "DenyBucketKey", { body: {
              bucketId: bucket.id, accessKeyId: key.id, permissions: { [perm]: true } } });
            box.dataset.saved = String(box.checked);
          } catch (err) {
            box.checked = !box.checked;
            notes.error(err);
          } finally {
            box.disabled = false;
          }
        });
        return h("label", { class: "perm" }, box, perm[0].toUpperCase());
      }));
    });
    return h("tr", null, h("td", null, key.name, " ",
      h("span", { class: "mono muted" }, shortId(key.id))), cells);
  }), { id: "permissions", class: "matrix" });
}
