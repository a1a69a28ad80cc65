import { createTheme, type CSSVariablesResolver } from "@mantine/core";

export const theme = createTheme({
  primaryColor: "blue",
  // Darker shades than Mantine's defaults keep text on light backgrounds above WCAG AA contrast.
  primaryShade: 8,
  defaultRadius: "md",
  fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
  headings: { fontFamily: "inherit" },
  focusRing: "auto",
  // No animations for people (and browsers) that ask for reduced motion.
  respectReducedMotion: true,
});

/** Secondary ("dimmed") text in gray 7 and error text in red 9 rather than Mantine's lighter
 * defaults: 4.5:1 contrast or better on white (WCAG AA for small text). */
export const cssVariablesResolver: CSSVariablesResolver = () => ({
  variables: {},
  light: {
    "--mantine-color-dimmed": "var(--mantine-color-gray-7)",
    "--mantine-color-error": "var(--mantine-color-red-9)",
  },
  dark: {},
});
