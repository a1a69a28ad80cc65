/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The build goes into the Python package, which FastAPI serves at / (see herald/app.py).
const outDir = fileURLToPath(new URL("../herald/static", import.meta.url));
// `npm run dev` serves the dashboard with hot reload and sends API calls to a running Herald.
const herald = process.env.HERALD_DEV_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir,
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    // The SDK's tests read herald/sdk/sdk.js, the file Herald serves at /sdk.js.
    fs: { allow: [".", "../herald/sdk"] },
    proxy: {
      "/api": herald,
      "/sdk.js": herald,
      "/docs": herald,
      "/openapi.json": herald,
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    // Several tests wait on purpose (a polling screen, a debounce) for a few seconds; 5 s in all,
    // vitest's default, was too little for them on a loaded 2-core machine.
    testTimeout: 20_000,
  },
});
