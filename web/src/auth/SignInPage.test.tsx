import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { json, renderAt } from "../test/render";
import { SignInPage } from "./SignInPage";

function routeFetch(handler: (url: URL, request: Request) => Response | Promise<Response>) {
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => handler(new URL(request.url), request)),
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("the sign-in page", () => {
  it("shows the API's reason under the field it names, and signs in", async () => {
    let attempts = 0;
    routeFetch(async (url, request) => {
      if (url.pathname === "/api/me") {
        return attempts < 2 ? json(401, { error: { code: "not_authenticated", message: "sign in" } }) : json(200, { kind: "user" });
      }
      attempts += 1;
      const body = (await request.json()) as { password: string };
      if (body.password !== "right password") {
        return json(401, {
          error: {
            code: "not_authenticated",
            message: "wrong email or password",
            fields: [{ field: "password", reason: "wrong email or password" }],
          },
        });
      }
      return json(200, { csrf_token: "t", user: {}, organization: {} });
    });
    const user = userEvent.setup();
    renderAt("/sign-in?next=%2Fevents", [
      { path: "/sign-in", element: <SignInPage /> },
      { path: "/events", element: <p>Events screen</p> },
    ]);
    const email = await screen.findByRole("textbox", { name: /email/i });
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("Enter your email address")).toBeTruthy();
    expect(attempts).toBe(0); // checked before asking the server

    await user.type(email, "ada@example.com");
    const password = screen.getByLabelText(/password/i, { selector: "input" });
    await user.type(password, "wrong password{Enter}");
    const error = await screen.findByText("Wrong email or password.");
    expect(password.getAttribute("aria-describedby")).toContain(error.id);

    await user.clear(password);
    await user.type(password, "right password{Enter}");
    await waitFor(() => expect(screen.getByText("Events screen")).toBeTruthy());
  });
});
