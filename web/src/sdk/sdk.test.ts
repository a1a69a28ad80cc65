/**
 * The browser snippet Herald serves at /sdk.js (herald/sdk/sdk.js), loaded into jsdom as a page
 * would load it, with the network replaced.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import SOURCE from "../../../herald/sdk/sdk.js?raw";

interface Herald {
  __herald: string;
  init(key: string, options?: { host?: string }): void;
  identify(traits: Record<string, unknown>): Promise<unknown>;
  track(name: string, properties?: Record<string, unknown>, options?: Record<string, unknown>): Promise<unknown>;
  page(properties?: Record<string, unknown>): Promise<unknown>;
  reset(): void;
  anonymousId(): string;
}

type Queued = unknown[][] & Record<string, unknown>;

declare global {
  interface Window {
    herald?: Herald | Queued;
  }
}

function herald(): Herald {
  return window.herald as Herald;
}

function load(): Herald {
  new Function(SOURCE)();
  return herald();
}

/** The loader snippet from docs/sdk.md: calls before sdk.js loads are queued. */
function stub(): Queued {
  const queue = [] as unknown as Queued;
  for (const method of ["init", "identify", "track", "page", "reset"]) {
    queue[method] = (...args: unknown[]) => queue.push([method, ...args]);
  }
  window.herald = queue;
  return queue;
}

let fetchMock: ReturnType<typeof vi.fn>;
let answers: (() => Response)[];

function sent(index: number): { url: URL; body: Record<string, unknown>; init: RequestInit } {
  const call = fetchMock.mock.calls[index];
  if (!call) throw new Error(`no request ${index}`);
  const [url, init] = call as [string, RequestInit];
  return { url: new URL(url), body: JSON.parse(String(init.body)), init };
}

beforeEach(() => {
  delete window.herald;
  window.localStorage.clear();
  document.cookie = "herald_aid=; Max-Age=0; Path=/";
  document.head.innerHTML = "";
  answers = [];
  fetchMock = vi.fn(async () => {
    const next = answers.shift();
    return next ? next() : new Response(JSON.stringify({ ok: true }), { status: 202 });
  });
  vi.stubGlobal("fetch", fetchMock);
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe("sdk.js", () => {
  it("sends consent with identify, with the page it was given on", async () => {
    const sdk = load();
    sdk.init("pk_test", { host: "https://herald.example" });
    await sdk.identify({
      phone: "+14155550100",
      consent: { sms: { status: "subscribed", text: "Text me offers" } },
    });
    const { url, body } = sent(0);
    expect(url.pathname).toBe("/api/identify");
    expect(body.phone).toBe("+14155550100");
    expect(body.consent).toEqual({
      sms: { status: "subscribed", text: "Text me offers", page_url: window.location.href },
    });
    expect(body.properties).toBeUndefined();
  });

  it("runs the calls queued before it loaded, in order, with the public key", async () => {
    const queue = stub();
    (queue.init as (k: string, o: object) => void)("pk_test", { host: "https://herald.example/" });
    (queue.track as (n: string, p: object, o: object) => void)("Viewed Product", { sku: "T-1" }, { value: 12.5 });
    (queue.page as () => void)();
    load();
    await vi.waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(2));
    const track = sent(0);
    expect(track.url.origin + track.url.pathname).toBe("https://herald.example/api/track");
    expect(track.url.searchParams.get("api_key")).toBe("pk_test");
    expect(track.init).toMatchObject({ method: "POST", credentials: "omit", keepalive: true });
    // text/plain: a request browsers send across origins without a preflight.
    expect((track.init.headers as Record<string, string>)["Content-Type"]).toMatch(/^text\/plain/);
    expect(track.body).toMatchObject({
      event: "Viewed Product",
      properties: { sku: "T-1" },
      value: 12.5,
      profile: { anonymous_id: herald().anonymousId() },
    });
    expect(track.body.unique_id).toEqual(expect.any(String));
    expect(new Date(String(track.body.time)).getTime()).not.toBeNaN();
    const page = sent(1).body;
    expect(page.event).toBe("Viewed Page");
    expect(page.properties).toMatchObject({ url: window.location.href, path: window.location.pathname });
    expect(page.unique_id).not.toBe(track.body.unique_id);
  });

  it("is configured by its script tag", async () => {
    const script = document.createElement("script");
    script.src = "https://herald.example/sdk.js";
    script.setAttribute("data-key", "pk_from_tag");
    document.head.append(script);
    await load().track("Signed Up");
    const { url } = sent(0);
    expect(url.host).toBe("herald.example");
    expect(url.searchParams.get("api_key")).toBe("pk_from_tag");
  });

  it("keeps one anonymous id in localStorage, sent with identify", async () => {
    const sdk = load();
    sdk.init("pk_test");
    const id = sdk.anonymousId();
    expect(window.localStorage.getItem("herald_anonymous_id")).toBe(id);
    delete window.herald;
    expect(load().anonymousId()).toBe(id); // the next page load finds it
    herald().init("pk_test");
    await herald().identify({
      email: "ada@example.com",
      first_name: "Ada",
      plan: "pro",
      properties: { newsletter: true },
      anonymous_id: "ignored",
    });
    expect(sent(0).url.pathname).toBe("/api/identify");
    expect(sent(0).body).toEqual({
      anonymous_id: id,
      email: "ada@example.com",
      first_name: "Ada",
      properties: { plan: "pro", newsletter: true },
    });
  });

  it("falls back to a first-party cookie without localStorage", () => {
    vi.spyOn(window, "localStorage", "get").mockImplementation(() => {
      throw new DOMException("blocked", "SecurityError");
    });
    const id = load().anonymousId();
    expect(document.cookie).toContain(`herald_aid=${id}`);
    delete window.herald;
    expect(load().anonymousId()).toBe(id);
    herald().reset();
    expect(document.cookie).not.toContain("herald_aid=");
    expect(herald().anonymousId()).not.toBe(id);
  });

  it("retries a failed call with the same unique_id, and beacons it if the page goes away", async () => {
    vi.useFakeTimers();
    const beacon = vi.fn(() => true);
    vi.stubGlobal("navigator", { ...window.navigator, sendBeacon: beacon });
    answers = [() => new Response("{}", { status: 503 }), () => new Response('{"event_id": "e"}', { status: 202 })];
    const sdk = load();
    sdk.init("pk_test", { host: "https://herald.example" });
    const result = sdk.track("Placed Order");
    await vi.advanceTimersByTimeAsync(600);
    await expect(result).resolves.toEqual({ event_id: "e" });
    expect(fetchMock).toHaveBeenCalledTimes(2);
    expect(sent(1).body.unique_id).toBe(sent(0).body.unique_id);

    answers = [() => new Response("{}", { status: 503 })];
    void sdk.track("Left Page");
    await vi.advanceTimersByTimeAsync(0);
    window.dispatchEvent(new Event("pagehide"));
    expect(beacon).toHaveBeenCalledTimes(1);
    const [url, payload] = beacon.mock.calls[0] as unknown as [string, string];
    expect(url).toBe("https://herald.example/api/track?api_key=pk_test");
    expect(JSON.parse(payload).unique_id).toBe(sent(2).body.unique_id);
    await vi.advanceTimersByTimeAsync(5000);
    expect(fetchMock).toHaveBeenCalledTimes(3); // handed to the beacon: not sent again
  });

  it("refuses secret keys and reports refusals in the console", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const sdk = load();
    sdk.init("sk_secret");
    await expect(sdk.track("Viewed Product")).resolves.toBeNull();
    expect(fetchMock).not.toHaveBeenCalled();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("never put a secret key in a web page"));
    sdk.init("pk_test");
    answers = [() => new Response('{"error": {"message": "invalid or revoked API key"}}', { status: 401 })];
    await expect(sdk.track("Viewed Product")).resolves.toBeNull();
    expect(fetchMock).toHaveBeenCalledTimes(1); // a 401 is an answer, not retried
    expect(warn).toHaveBeenCalledWith("herald: invalid or revoked API key");
  });

  it("loads once", () => {
    const first = load();
    load();
    expect(herald()).toBe(first);
  });
});
