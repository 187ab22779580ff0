// Walks the onboarding page in headless Chromium against a running local stack, the way a
// person would: create an organization, connect through the sandbox's Meta dialog, choose an
// account and a number, see it connected, disconnect. Usage: node onboarding.mjs BASE_URL OUT_DIR
import { chromium } from "playwright-core";

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
try {
  await page.goto(base + "/");
  await page.fill("#c-name", "Browser Co");
  await page.click("#create-form button[type=submit]");
  await page.waitForSelector("#connect-btn", { state: "visible" });

  await page.click("#connect-btn");
  await page.waitForURL(/meta-sandbox\/www\/.*dialog\/oauth/);
  await page.click("button[name=decision][value=allow]");

  await page.waitForURL((url) => url.pathname === "/");
  await page.waitForSelector("#step-account input[type=radio]", { state: "visible" });
  const accounts = await page.locator("#step-account").innerText();
  if (!accounts.includes("Acme Support")) await fail(page, "the granted accounts are not listed");
  await page.locator("#step-account input[type=radio]").first().check();
  await page.click("#waba-next");

  await page.waitForSelector("#step-phone input[type=radio]", { state: "visible" });
  const phones = await page.locator("#step-phone input[type=radio]").count();
  if (phones !== 3) await fail(page, `expected the 3 phones of Acme Support, saw ${phones}`);
  await page.locator("#step-phone input[type=radio]").nth(1).check();
  await page.click("#save-btn");

  await page.waitForSelector("#disconnect-btn", { state: "visible" });
  const dashboard = await page.locator("#step-dashboard").innerText();
  if (!dashboard.includes("Connected") || !dashboard.includes("+1 555-010-0002")) {
    await fail(page, "the dashboard does not show the connected number");
  }
  await page.screenshot({ path: `${out}/onboarding-connected.png`, fullPage: true });

  // The inbox: a customer writes (the sandbox signs and delivers Meta's webhook), the
  // owner replies with the stored token, and the sandbox reports the reply delivered.
  const chatShows = (text) =>
    page.waitForFunction((t) => (document.querySelector("#msg-list")?.innerText ?? "").includes(t), text);
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
  await page.screenshot({ path: `${out}/onboarding-inbox.png`, fullPage: true });

  await page.click("#disconnect-btn");
  await page.waitForSelector("#disconnect-btn", { state: "hidden" });
  await page.waitForFunction(() => document.body.innerText.includes("Not connected"));
  console.log("onboarding page: created, connected, chatted, disconnected — ok");
} finally {
  await browser.close();
}
