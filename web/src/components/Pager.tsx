import { Button, Group, Text } from "@mantine/core";
import { IconChevronLeft, IconChevronRight } from "@tabler/icons-react";

export interface PagerProps {
  page: number;
  hasPrevious: boolean;
  hasNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
  busy: boolean;
}

/** Previous / Next for cursor-paginated tables. */
export function Pager({ page, hasPrevious, hasNext, onPrevious, onNext, busy }: PagerProps) {
  if (!hasPrevious && !hasNext) return null;
  return (
    <Group justify="space-between" mt="md" component="nav" aria-label="Pages">
      <Button
        variant="default"
        leftSection={<IconChevronLeft size={16} aria-hidden />}
        disabled={!hasPrevious || busy}
        onClick={onPrevious}
      >
        Previous
      </Button>
      <Text size="sm" c="dimmed" aria-live="polite">
        Page {page}
      </Text>
      <Button
        variant="default"
        rightSection={<IconChevronRight size={16} aria-hidden />}
        disabled={!hasNext || busy}
        onClick={onNext}
      >
        Next
      </Button>
    </Group>
  );
}
