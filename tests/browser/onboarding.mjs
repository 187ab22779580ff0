// Walks the onboarding page in headless Chromium against a running local stack, the way a
// person would, on both of Meta's paths:
//   1. Embedded Signup in Meta's popup (through the sandbox's JS SDK): pick a number that
//      already has a two-step verification PIN, enter it when asked, chat (with a customer
//      known only by username and BSUID, a template, a photo each way), change the business
//      profile, disconnect;
//   2. the redirect dialog: consent, choose the account and the number, connected and
//      registered;
//   3. Meta revokes the token: a send fails, the number shows "Reconnect needed" with its
//      action and events, disconnect;
//   4. a business that keeps its WhatsApp Business app (the popup posting its session event
//      after the code): its contacts and chat history arrive, and what it sends from the
//      app shows in the inbox;
//   5. the popup hands over a code and no session event (a known Meta behaviour): the page
//      lets the person pick the account and number, and a new number is verified with the
//      code Meta sends it, then registered;
//   6. events to the organization's own systems: an endpoint added on the page (its secret
//      shown once) receives a customer's message signed as Standard Webhooks says (checked
//      here with node's own HMAC), and its deliveries are listed; an endpoint that refuses
//      shows as failing;
//   7. an onboarding link: created through the API, opened in a browser of its own (no
//      token), Embedded Signup in the popup, the number's PIN, and on to the success URL.
// Usage: node onboarding.mjs BASE_URL OUT_DIR
import { chromium } from "playwright-core";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const [base, out = "."] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const fail = async (page, message) => {
  await page.screenshot({ path: `${out}/onboarding-failure.png`, fullPage: true });
  throw new Error(message);
};
const page = await browser.newPage();
page.on("dialog", (dialog) => dialog.accept());
const textOf = (selector) => page.locator(selector).innerText();
// Whether `selector` comes to hold every one of `texts` within 10 s: the dashboard's rows
// are drawn a moment after its buttons show.
const comesToShow = (selector, ...texts) =>
  page
    .waitForFunction(([s, ts]) => ts.every((t) => (document.querySelector(s)?.innerText ?? "").includes(t)), [selector, texts], { timeout: 10000 })
    .then(() => true, () => false);
const shows = (text) => page.waitForFunction((t) => document.body.innerText.includes(t), text);
const chatShows = (text) =>
  page.waitForFunction((t) => (document.querySelector("#msg-list")?.innerText ?? "").includes(t), text);

async function disconnect() {
  await page.click("#disconnect-btn");
  await page.waitForSelector("#disconnect-btn", { state: "hidden" });
  await shows("Not connected");
}

try {
  await page.goto(base + "/");
  await page.fill("#c-name", "Browser Co");
  await page.click("#create-form button[type=submit]");
  await page.waitForSelector("#connect-btn", { state: "visible" });

  // ---- 1. Embedded Signup in the popup ------------------------------------------------
  const [popup] = await Promise.all([page.waitForEvent("popup"), page.click("#connect-btn")]);
  await popup.waitForLoadState();
  if (!(await popup.locator("body").innerText()).includes("Embedded Signup")) await fail(page, "the popup is not Embedded Signup");
  await popup.check("input[name=choice][value$=':106540352242947']"); // +1 555-010-0002, which has a PIN of its own
  await Promise.all([popup.waitForEvent("close"), popup.click("button[name=decision][value=finish]")]);

  await page.waitForSelector("#disconnect-btn", { state: "visible" });
  await page.waitForSelector("#pin-form", { state: "visible" });
  if (!(await comesToShow("#step-dashboard", "+1 555-010-0002"))) await fail(page, "the picked number is not shown");
  if (!(await textOf("#status-rows")).includes("PIN required")) await fail(page, "the PIN is not asked for");
  await page.screenshot({ path: `${out}/onboarding-pin.png`, fullPage: true });
  await page.fill("#pin", "000000");
  await page.click("#pin-btn");
  await shows("That PIN was not accepted");
  await page.fill("#pin", "482913");
  await page.click("#pin-btn");
  await page.waitForSelector("#pin-form", { state: "hidden" });
  if (!(await textOf("#status-rows")).includes("Registered")) await fail(page, "the number is not registered after its PIN");

  // The inbox: a customer writes (the sandbox signs and delivers Meta's webhook), the
  // owner replies with the stored token, and the sandbox reports the reply delivered.
  await page.waitForSelector("#inbox", { state: "visible" });
  await page.click("#sim summary");
  await page.fill("#s-text", "Is my order on its way?");
  await page.click("#sim-form button[type=submit]");
  await chatShows("Is my order on its way?");
  const inbound = await page.locator("#msg-list li", { hasText: "Is my order on its way?" }).count();
  if (inbound !== 1) await fail(page, `the inbound message shows ${inbound} times`);
  await page.locator("#msg-list li", { hasText: "Is my order on its way?" }).click();
  if ((await page.inputValue("#r-to")) !== "16315551234") await fail(page, "selecting the message did not pick its sender");
  await page.fill("#r-text", "Yes, it ships today.");
  await page.click("#send-btn");
  await chatShows("Yes, it ships today.");
  await chatShows("✓✓");

  // A customer with a username whose number Meta withholds: named by username, answered
  // by their business-scoped user ID; then a template from the picker.
  await page.evaluate(() => { document.querySelector("#sim").open = true; });
  await page.fill("#s-username", "@kerry");
  await page.check("#s-withhold");
  await page.fill("#s-text", "It's me, with my username");
  await page.click("#sim-form button[type=submit]");
  await chatShows("@kerry");
  await page.locator("#msg-list button.bubble", { hasText: "with my username" }).click();
  if (!/^[A-Z]{2}\./.test(await page.inputValue("#r-to"))) await fail(page, "selecting a username-only customer did not pick their user ID");
  await page.fill("#r-text", "Hello again, Kerry.");
  await page.click("#send-btn");
  await chatShows("Hello again, Kerry.");
  await page.click("#tpl summary");
  await page.waitForFunction(() => document.querySelectorAll("#tpl-name option").length > 0);
  await page.selectOption("#tpl-name", { label: "hello_world (en_US)" });
  await page.click("#tpl-send");
  await page.waitForFunction(() => document.querySelector("#tpl-note").innerText === "Sent.");
  await chatShows("template hello_world");
  // A photo each way: the customer's shown in the chat, one attached to a reply.
  const photo = await page.evaluate(() => fetch("/meta-sandbox/control/inbound-media", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ phoneNumberId: "106540352242947", from: "16315551234", kind: "image", caption: "Look at this" }),
  }).then((r) => r.json()));
  if (!photo.mediaId) await fail(page, "the sandbox sent no photo");
  await page.waitForFunction((id) => { const img = document.querySelector(`img.media[data-media="${id}"]`); return img && img.complete && img.naturalWidth > 0; }, photo.mediaId, { timeout: 15000 })
    .catch(() => fail(page, "the customer's photo is not shown"));
  const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
  await page.setInputFiles("#r-file", { name: "reply.png", mimeType: "image/png", buffer: png });
  await page.fill("#r-text", "Here is ours");
  await page.click("#send-btn");
  await chatShows("[image] Here is ours");
  const atMeta = await page.evaluate(() => fetch("/meta-sandbox/control/sent-messages").then((r) => r.json()));
  if (!JSON.stringify(atMeta).includes("[image] Here is ours")) await fail(page, "the photo did not reach Meta");
  // The business profile, through the connection.
  await page.click("#profile summary");
  await page.waitForFunction(() => document.querySelector("#pf-about").value.length > 0);
  await page.fill("#pf-about", "Succulents, delivered.");
  await page.click("#profile-save");
  await page.waitForFunction(() => document.querySelector("#profile-note").innerText === "Saved.");
  await page.click("#profile summary");
  await page.click("#profile summary");
  await page.waitForFunction(() => document.querySelector("#pf-about").value === "Succulents, delivered.");
  await page.screenshot({ path: `${out}/onboarding-inbox.png`, fullPage: true });
  await disconnect();

  // ---- 2. The redirect dialog ---------------------------------------------------------
  await page.click("#redirect-btn");
  await page.waitForURL(/meta-sandbox\/www\/.*dialog\/oauth/);
  await page.click("button[name=decision][value=allow]");

  await page.waitForURL((url) => url.pathname === "/");
  await page.waitForSelector("#step-account input[type=radio]", { state: "visible" });
  if (!(await textOf("#step-account")).includes("Acme Support")) await fail(page, "the granted accounts are not listed");
  await page.locator("#step-account input[type=radio]").first().check();
  await page.click("#waba-next");

  await page.waitForSelector("#step-phone input[type=radio]", { state: "visible" });
  const phones = await page.locator("#step-phone input[type=radio]").count();
  if (phones !== 3) await fail(page, `expected the 3 phones of Acme Support, saw ${phones}`);
  await page.locator("#step-phone input[type=radio]").first().check(); // +1 555-010-0001, not registered yet
  await page.click("#save-btn");

  await page.waitForSelector("#disconnect-btn", { state: "visible" });
  if (!(await comesToShow("#step-dashboard", "Connected", "+1 555-010-0001", "Registered"))) {
    await fail(page, "the dashboard does not show the connected, registered number");
  }
  await page.screenshot({ path: `${out}/onboarding-connected.png`, fullPage: true });

  // ---- 3. Meta revokes the token: the next send notices, the page offers a reconnect ----
  await page.evaluate(() => fetch("/meta-sandbox/control/revoke-token", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ wabaId: "102290129340398" }),
  }));
  await page.fill("#r-to", "16315551234");
  await page.fill("#r-text", "Still there?");
  await page.click("#send-btn");
  await shows("Meta no longer accepts this connection");
  await page.click("#refresh-btn");
  await shows("Reconnect needed");
  await page.waitForSelector("#reconnect-btn", { state: "visible" });
  if ((await textOf("#reconnect-btn")) !== "Reconnect WhatsApp") await fail(page, "no reconnect is offered");
  if (!(await textOf("#status-action")).includes("connect WhatsApp again")) await fail(page, "the action is not shown");
  await page.click("#events summary");
  await page.waitForFunction(() => document.querySelector("#event-list").innerText.includes("needs_reauthorization"));
  await page.screenshot({ path: `${out}/onboarding-reconnect.png`, fullPage: true });
  await disconnect();

  const control = (lever, body) => page.evaluate(([lever, body]) => fetch("/meta-sandbox/control/" + lever, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  }).then((r) => r.json()), [lever, body]);

  // ---- 4. The WhatsApp Business app (coexistence) --------------------------------------
  await control("popup", { sessionEvent: "last" });
  const [appPopup] = await Promise.all([page.waitForEvent("popup"), page.click("#app-btn")]);
  await appPopup.waitForLoadState();
  if (!(await appPopup.locator("body").innerText()).includes("WhatsApp Business app")) await fail(page, "the popup is not the app flow");
  await appPopup.check("input[name=choice][value$=':106540352243077']"); // +1 555-010-0005, the café's app number
  await Promise.all([appPopup.waitForEvent("close"), appPopup.click("button[name=decision][value=finish]")]);
  await page.waitForSelector("#disconnect-btn", { state: "visible" });
  if (!(await comesToShow("#status-rows", "WhatsApp Business app"))) await fail(page, "the app number is not shown as such");
  // The syncs run right after the connect; the page shows them done once Meta has sent both.
  for (let i = 0; i < 50 && !(await textOf("#status-rows")).includes("Contacts done · history done"); i++) {
    await page.waitForTimeout(200);
    await page.click("#refresh-btn");
  }
  if (!(await textOf("#status-rows")).includes("Contacts done · history done")) await fail(page, "the syncs did not finish");
  await page.click("#contacts summary");
  if (!(await textOf("#contact-list")).includes("Pablo Morales")) await fail(page, "the app's contacts are not listed");
  await chatShows("Yes, from 9 to 3. See you!");
  await chatShows("from the chat history");
  await control("echo", { phoneNumberId: "106540352243077", to: "16505551234", text: "Your table is ready" });
  await chatShows("Your table is ready");
  await chatShows("sent from the WhatsApp Business app");
  await page.screenshot({ path: `${out}/onboarding-coexistence.png`, fullPage: true });
  await disconnect();

  // ---- 5. A code without a session event, and a number to verify ------------------------
  await control("popup", { sessionEvent: "none" });
  const [lostPopup] = await Promise.all([page.waitForEvent("popup"), page.click("#connect-btn")]);
  await lostPopup.waitForLoadState();
  await lostPopup.check("input[name=choice][value$=':106540352243099']"); // +1 555-010-0006, not verified yet
  await Promise.all([lostPopup.waitForEvent("close"), lostPopup.click("button[name=decision][value=finish]")]);
  await page.waitForSelector("#step-account input[type=radio]", { state: "visible", timeout: 15000 });
  if (!(await textOf("#step-account")).includes("Acme Pop-up")) await fail(page, "the fallback does not list the granted account");
  await page.locator("#step-account input[type=radio]").first().check();
  await page.click("#waba-next");
  await page.waitForSelector("#step-phone input[type=radio]", { state: "visible" });
  await page.locator("#step-phone input[type=radio]").first().check();
  await page.click("#save-btn");
  await page.waitForSelector("#verify-form", { state: "visible" });
  if (!(await textOf("#status-rows")).includes("Verify the number")) await fail(page, "the number is not shown as needing verification");
  await page.click("#code-btn");
  await page.waitForFunction(() => /[0-9]{6}/.test(document.querySelector("#code-hint").innerText));
  const code = (await textOf("#code-hint")).match(/[0-9]{6}/)[0];
  await page.fill("#code", code);
  await page.click("#verify-btn");
  await page.waitForSelector("#verify-form", { state: "hidden" });
  if (!(await textOf("#status-rows")).includes("Registered")) await fail(page, "the verified number is not registered");
  await page.screenshot({ path: `${out}/onboarding-verified.png`, fullPage: true });

  // ---- 6. Events to the organization's own systems --------------------------------------
  const deliveries = [];
  const receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => { deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) }); res.end(); });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const receiverUrl = `http://127.0.0.1:${receiver.address().port}/hooks`;
  await page.click("#endpoints summary");
  await shows("No endpoints yet.");
  await page.fill("#ep-url", receiverUrl);
  await page.click("#ep-add");
  await page.waitForSelector("#ep-secret", { state: "visible" });
  const secret = await textOf("#ep-secret-value");
  if (!/^whsec_[A-Za-z0-9+/=]{40,}$/.test(secret)) await fail(page, "no signing secret shown");
  await page.fill("#ep-url", "http://127.0.0.1:9/refuses");
  await page.check("input[name=types][value='message.received']");
  await page.click("#ep-add");
  await page.waitForFunction(() => document.querySelectorAll("#endpoint-list li[data-endpoint]").length === 2);
  await page.evaluate(() => { document.querySelector("#sim").open = true; });
  await page.fill("#s-username", "");
  await page.uncheck("#s-withhold");
  await page.fill("#s-text", "Do you have events?");
  await page.click("#sim-form button[type=submit]");
  for (let i = 0; i < 100 && !deliveries.some((d) => JSON.parse(d.body).type === "message.received"); i++) await page.waitForTimeout(100);
  const delivery = deliveries.find((d) => JSON.parse(d.body).type === "message.received");
  if (!delivery) await fail(page, "the endpoint received no message.received event");
  const signed = `${delivery.headers["webhook-id"]}.${delivery.headers["webhook-timestamp"]}.${delivery.body}`;
  const expected = createHmac("sha256", Buffer.from(secret.slice("whsec_".length), "base64")).update(signed).digest();
  const given = delivery.headers["webhook-signature"].split(" ").map((s) => Buffer.from(s.replace(/^v1,/, ""), "base64"));
  if (!given.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) await fail(page, "the delivery's signature does not verify");
  if (JSON.parse(delivery.body).data.text !== "Do you have events?") await fail(page, "the event is not the customer's message");
  // The page never shows the secret again; the endpoint's deliveries are listed.
  await page.click("#endpoints summary");
  await page.click("#endpoints summary");
  await page.waitForSelector("#ep-secret", { state: "hidden" });
  await page.locator("#endpoint-list li", { hasText: receiverUrl }).getByRole("button", { name: "Deliveries" }).click();
  await page.waitForSelector("#deliveries", { state: "visible" });
  if (!(await textOf("#delivery-rows")).includes("message.received")) await fail(page, "the delivery is not listed");
  if (!(await textOf("#delivery-rows")).includes("Delivered")) await fail(page, "the delivery is not shown delivered");
  await page.click("#refresh-btn");
  await page.waitForFunction(() => document.querySelector("#endpoint-list").innerText.includes("Failing"));
  if ((await page.content()).includes(secret)) await fail(page, "the secret is still on the page");
  await page.screenshot({ path: `${out}/onboarding-events.png`, fullPage: true });
  receiver.close();

  // ---- 7. An onboarding link, as a customer opens it ---------------------------------------
  // The number with a PIN of its own was registered in step 1: Meta forgets it, so the
  // link's connect registers it again and asks for its PIN.
  await control("unregister", { phoneNumberId: "106540352242947" });
  const created = await page.evaluate(async (base) => {
    const token = document.querySelector('meta[name="demo-token"]').content;
    const post = (path, body) => fetch(path, {
      method: "POST", headers: { "content-type": "application/json", authorization: "Bearer " + token }, body: JSON.stringify(body),
    }).then((r) => r.json());
    const org = await post("/api/v1/organizations", { name: "Link & <Co>" });
    const link = await post("/api/v1/organizations/" + org.data.id + "/whatsapp/onboarding-links", { successUrl: base + "/?from=link" });
    return { org: org.data.id, url: link.data.url };
  }, base);
  const customer = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const linkPage = await customer.newPage();
  await linkPage.goto(created.url);
  if (!(await linkPage.locator("#organization").innerText()).includes("Link & <Co>")) await fail(linkPage, "the link's page does not name the organization");
  const [linkPopup] = await Promise.all([linkPage.waitForEvent("popup"), linkPage.click("#connect-btn")]);
  await linkPopup.waitForLoadState();
  await linkPopup.check("input[name=choice][value$=':106540352242947']"); // +1 555-010-0002, which has a PIN of its own
  await Promise.all([linkPopup.waitForEvent("close"), linkPopup.click("button[name=decision][value=finish]")]);
  await linkPage.waitForSelector("#pin-form", { state: "visible", timeout: 15000 }).catch(() => fail(linkPage, "the link's page asks for no PIN: " + linkPage.url()));
  await linkPage.screenshot({ path: `${out}/onboarding-link-pin.png`, fullPage: true });
  await linkPage.fill("#pin", "000000");
  await linkPage.click("#pin-btn");
  await linkPage.waitForFunction(() => document.querySelector("#status").innerText.includes("PIN"));
  await linkPage.fill("#pin", "482913");
  await linkPage.click("#pin-btn");
  await linkPage.waitForURL((url) => url.searchParams.get("status") === "connected" && url.searchParams.get("from") === "link", { timeout: 15000 });
  if (new URL(linkPage.url()).searchParams.get("organizationId") !== created.org) await fail(linkPage, "the success URL does not name the organization");
  await linkPage.goto(created.url);
  if (!(await linkPage.locator("body").innerText()).includes("WhatsApp is connected") && (await linkPage.locator("#connect-btn").isVisible())) {
    // Within the hour after its use the page still opens; it starts nothing new.
    const session = await linkPage.evaluate(() => fetch(location.pathname + "/session").then((r) => r.status));
    if (session !== 410) await fail(linkPage, "a used link started another connect");
  }
  await customer.close();
  await control("popup", { sessionEvent: "first" });
  await disconnect();
  console.log("onboarding page: Embedded Signup popup with PIN, chat, redirect dialog, a revoked token and its reconnect, the WhatsApp Business app with its contacts, history and echoes, a lost session event with a number to verify, events to an endpoint, an onboarding link with its PIN, disconnects — ok");
} finally {
  await browser.close();
}
