import { Anchor, Breadcrumbs, Text } from "@mantine/core";
import type { ReactNode } from "react";
import { Link } from "react-router";

/** Where a screen sits: links to the screens above it, then its own name. */
export function PageBreadcrumbs({
  links,
  current,
}: {
  links: readonly ({ to: string; label: ReactNode } | false | null | undefined)[];
  current: ReactNode;
}) {
  return (
    <Breadcrumbs mb="sm" aria-label="Breadcrumb">
      {links.map(
        (link) =>
          link && (
            <Anchor key={link.to} component={Link} to={link.to} size="sm">
              {link.label}
            </Anchor>
          ),
      )}
      <Text size="sm">{current}</Text>
    </Breadcrumbs>
  );
}
