import { describe, expect, it } from "vitest";
import {
  EMPTY_MJML,
  formatMjml,
  isSectionFragment,
  jinjaConstructs,
  lostConstructs,
  personalizationTags,
  propertyReference,
  restoreJinja,
  visualBlocker,
} from "./visual";

describe("restoreJinja", () => {
  it("unescapes what an HTML export does to Jinja in text, keeping quotes", () => {
    expect(restoreJinja("<mj-text>Hi {{ profile.first_name | default(&quot;there&quot;) }} &amp; co</mj-text>")).toBe(
      '<mj-text>Hi {{ profile.first_name | default("there") }} &amp; co</mj-text>',
    );
    expect(restoreJinja("<p>{% if a &gt; 1 &amp;&amp; b %}x{% endif %}</p>")).toBe("<p>{% if a > 1 && b %}x{% endif %}</p>");
  });

  it("turns double quotes inside an attribute into single ones", () => {
    expect(restoreJinja('<mj-image src="{{ x | default(&quot;a.png&quot;) }}">')).toBe(
      "<mj-image src=\"{{ x | default('a.png') }}\">",
    );
  });
});

describe("lostConstructs", () => {
  it("is empty when every construct came through, whatever the layout and quotes", () => {
    const before = '<mj-text>{{  profile.first_name | default("x") }}</mj-text><mj-text>{{ unsubscribe_url }}</mj-text>';
    const after = "<mj-text>{{ profile.first_name | default(&quot;x&quot;) }}</mj-text>\n<mj-text>{{ unsubscribe_url }}</mj-text>";
    expect(lostConstructs(before, after)).toEqual([]);
  });

  it("names what went missing, counting repeats", () => {
    const before = "<mj-raw>{% for i in data.items %}</mj-raw>{{ i }}{{ i }}<mj-raw>{% endfor %}</mj-raw>";
    expect(lostConstructs(before, "{{ i }}")).toEqual(["{% for i in data.items %}", "{{ i }}", "{% endfor %}"]);
  });

  it("compares constructs with their whitespace collapsed", () => {
    expect(jinjaConstructs("{{\n  a  }}")).toEqual(["{{ a }}"]);
  });
});

describe("visualBlocker", () => {
  it("lets MJML documents through", () => {
    expect(visualBlocker(EMPTY_MJML)).toBeNull();
    expect(visualBlocker("<!-- note -->\n<mjml><mj-body></mj-body></mjml>")).toBeNull();
    expect(visualBlocker("")).toBeNull();
  });

  it("says why other bodies stay in code", () => {
    expect(visualBlocker("<html><body>x</body></html>")).toMatch(/MJML documents/);
    expect(visualBlocker("<mjml><mj-head></mj-head></mjml>")).toMatch(/no <mj-body>/);
    expect(visualBlocker('<mjml><mj-body><mj-include path="x" /></mj-body></mjml>')).toMatch(/mj-include/);
  });
});

describe("formatMjml", () => {
  it("puts one element a line, indented, and keeps text content as it is", () => {
    const flat =
      '<mjml><mj-body><mj-section><mj-column><mj-text color="red">Hi <b>{{ profile.first_name }}</b></mj-text><mj-image src="a.png"/></mj-column></mj-section></mj-body></mjml>';
    expect(formatMjml(flat)).toBe(
      [
        "<mjml>",
        "  <mj-body>",
        "    <mj-section>",
        "      <mj-column>",
        '        <mj-text color="red">Hi <b>{{ profile.first_name }}</b></mj-text>',
        '        <mj-image src="a.png"/>',
        "      </mj-column>",
        "    </mj-section>",
        "  </mj-body>",
        "</mjml>",
        "",
      ].join("\n"),
    );
  });

  it("keeps the content of mj-raw, attributes with > in quotes, and is stable", () => {
    const flat = '<mjml><mj-body><mj-raw>{% if a %}</mj-raw><mj-button href="x?a>b">Go</mj-button></mj-body></mjml>';
    const once = formatMjml(flat);
    expect(once).toContain("  <mj-raw>{% if a %}</mj-raw>\n");
    expect(once).toContain('  <mj-button href="x?a>b">Go</mj-button>\n');
    expect(formatMjml(once)).toBe(once);
  });
});

describe("personalization tags", () => {
  it("offers profile fields, custom properties and the required footer parts", () => {
    const tags = personalizationTags(["plan", "favourite colour"]);
    expect(tags.find((t) => t.label === "First name")?.insert).toBe("{{ profile.first_name | default('there') }}");
    expect(tags.find((t) => t.label === "plan")?.insert).toBe("{{ profile.properties.plan }}");
    expect(tags.find((t) => t.label === "favourite colour")?.insert).toBe("{{ profile.properties['favourite colour'] }}");
    expect(tags.find((t) => t.label === "Unsubscribe link")?.insert).toContain("{{ unsubscribe_url }}");
    expect(tags.find((t) => t.label === "Postal address")?.insert).toBe("{{ organization.postal_address }}");
  });

  it("quotes property names that cannot be written with a dot", () => {
    expect(propertyReference("it's")).toBe('profile.properties["it\'s"]');
  });
});

describe("isSectionFragment", () => {
  it("accepts sections and wrappers only", () => {
    expect(isSectionFragment("  <mj-section><mj-column></mj-column></mj-section>")).toBe(true);
    expect(isSectionFragment("<mj-wrapper></mj-wrapper>")).toBe(true);
    expect(isSectionFragment("<mj-text>x</mj-text>")).toBe(false);
  });
});
