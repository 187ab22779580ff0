/* The onboarding page's media and the business's WhatsApp settings: a customer's photos
 * shown in the inbox (other files as downloads), a file attached to a reply, interactive
 * messages shown as sent, messages marked read once shown, and the business profile read
 * and changed through the scoped Graph route. Uses the page's helpers from app.js (el,
 * api, $, enc, orgId, token, inbox, busy, showError) at the time it is called. */
"use strict";
const mediaUrls = new Map();
const readMarked = new Set();

window.messageExtras = messageExtras;
window.markShownRead = markShownRead;
window.sendFile = sendFile;

/** The file of a received message, fetched with the page's token: an object URL. */
async function mediaBlob(id) {
  if (mediaUrls.has(id)) return mediaUrls.get(id);
  const res = await fetch("/api/v1/organizations/" + enc(orgId) + "/whatsapp/media/" + enc(id), { headers: { Authorization: "Bearer " + token } });
  if (!res.ok) throw new Error("HTTP " + res.status);
  const url = URL.createObjectURL(await res.blob());
  mediaUrls.set(id, url);
  return url;
}

/** What a message shows beside its text: its file, or an interactive message's choices. */
function messageExtras(m) {
  const media = m.media;
  if (media && media.status === "stored") {
    if (media.mimeType && media.mimeType.startsWith("image/")) {
      const img = el("img", { class: "media", alt: m.text || "Photo from the customer", "data-media": media.id });
      mediaBlob(media.id).then((url) => { img.src = url; }).catch(() => { img.alt = "The photo could not be loaded."; });
      return img;
    }
    return el("button", { type: "button", class: "secondary file", "data-media": media.id, text: "Download " + (m.type || "file"),
      onclick: async (ev) => {
        ev.stopPropagation();
        const a = el("a", { href: await mediaBlob(media.id), download: (m.content && m.content.filename) || media.id });
        document.body.append(a); a.click(); a.remove();
      } });
  }
  if (media && media.status === "pending") return el("span", { class: "hint", text: "Fetching the file…" });
  if (media && media.status === "failed") return el("span", { class: "failure", text: "File unavailable: " + (media.reason || "Meta no longer has it") });
  const content = m.content;
  if (m.type === "interactive" && content && content.action) {
    const choices = (content.action.buttons || []).map((b) => b.reply && b.reply.title)
      .concat(...(content.action.sections || []).map((s) => (s.rows || []).map((r) => r.title)))
      .concat(content.action.parameters && content.action.parameters.display_text ? [content.action.parameters.display_text] : [])
      .filter(Boolean);
    return el("span", { class: "choices" }, choices.map((c) => el("span", { class: "choice", text: c })));
  }
  return null;
}

/** Marks the newest customer message shown as read (Meta marks the earlier ones with it). */
function markShownRead(messages) {
  const newest = messages.filter((m) => m.direction === "inbound" && m.kind === "message" && m.messageId).pop();
  if (!newest || readMarked.has(newest.messageId) || document.visibilityState !== "visible") return;
  readMarked.add(newest.messageId);
  api("POST", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/messages/" + enc(newest.messageId) + "/read", {}).catch(() => readMarked.delete(newest.messageId));
}

const MEDIA_KINDS = [["image/", "image"], ["video/", "video"], ["audio/", "audio"], ["image/webp", "sticker"]];
function mediaKind(type) {
  if (type === "image/webp") return "sticker";
  const found = MEDIA_KINDS.find(([prefix]) => type.startsWith(prefix));
  return found ? found[1] : "document";
}

/** A reply with a file: uploaded for the inbox's number, then sent by its media id. */
async function sendFile(file, to, caption) {
  const res = await fetch("/api/v1/organizations/" + enc(orgId) + "/whatsapp/media?phoneNumberId=" + enc(inbox.phoneId), {
    method: "POST", headers: { Authorization: "Bearer " + token, "Content-Type": file.type || "application/octet-stream" }, body: file,
  });
  const uploaded = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, uploaded);
  const kind = mediaKind(file.type || "");
  const object = { id: uploaded.mediaId };
  if (caption && kind !== "audio" && kind !== "sticker") object.caption = caption;
  if (kind === "document") object.filename = file.name;
  const message = { type: kind, [kind]: object };
  return api("POST", msgUrl(), isUserId(to) ? { recipient: to, message } : { to, message });
}

// ---- The business profile, through the scoped Graph route ----------------------------------
const PROFILE_FIELDS = ["about", "description", "address", "email", "websites", "vertical"];
const profileUrl = () => "/api/v1/organizations/" + enc(orgId) + "/whatsapp/graph/" + enc(inbox.phoneId) + "/whatsapp_business_profile";
async function loadProfile() {
  try {
    const r = await api("GET", profileUrl() + "?fields=" + PROFILE_FIELDS.join(","));
    const p = (r.data && r.data[0]) || {};
    const form = $("profile-form");
    for (const field of PROFILE_FIELDS) {
      const input = form.elements.namedItem(field);
      if (input) input.value = field === "websites" ? (p.websites || []).join(" ") : (p[field] || "");
    }
  } catch (e) { showError(e); }
}
$("profile").addEventListener("toggle", () => { if ($("profile").open) loadProfile(); });
$("profile-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  busy($("profile-save"), async () => {
    const body = { messaging_product: "whatsapp" };
    for (const field of PROFILE_FIELDS) {
      const value = val(form, field);
      if (field === "websites") body.websites = value ? value.split(/\s+/) : [];
      else if (value || field !== "about") body[field] = value;
    }
    try {
      await api("POST", profileUrl(), body);
      $("profile-note").textContent = "Saved.";
    } catch (e) { showError(e); $("profile-note").textContent = ""; }
  });
});
