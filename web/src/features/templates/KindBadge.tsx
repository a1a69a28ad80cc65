import { Badge } from "@mantine/core";

export function KindBadge({ kind, marketing }: { kind?: "marketing" | "transactional"; marketing?: boolean }) {
  const isMarketing = kind ? kind === "marketing" : Boolean(marketing);
  return (
    <Badge variant="light" size="sm" color={isMarketing ? "grape" : "blue"}>
      {isMarketing ? "Marketing" : "Transactional"}
    </Badge>
  );
}
