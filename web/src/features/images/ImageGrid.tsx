/** Library images as a grid of cards: the picture, its name, dimensions, size and type, and
 * whatever actions the screen gives each one. */
import { AspectRatio, Badge, Button, Card, Group, Image, SimpleGrid, Stack, Text } from "@mantine/core";
import type { InfiniteData, UseInfiniteQueryResult } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { flattenPages } from "../../lib/paging";
import { FORMAT_LABELS, formatBytes, localSource, type LibraryImage } from "./api";

export function ImageCard({ image, actions }: { image: LibraryImage; actions?: ReactNode }) {
  return (
    <Card withBorder padding="xs" radius="md" data-testid="image-card" aria-label={image.name}>
      <Card.Section>
        <AspectRatio ratio={4 / 3} bg="var(--mantine-color-gray-1)">
          <Image src={localSource(image)} alt={image.name} fit="contain" loading="lazy" />
        </AspectRatio>
      </Card.Section>
      <Stack gap={4} mt="xs">
        <Text size="sm" fw={500} truncate="end" title={image.name}>
          {image.name}
        </Text>
        <Group gap={6}>
          <Badge size="xs" variant="outline" color="gray">
            {FORMAT_LABELS[image.content_type]}
          </Badge>
          <Text size="xs" c="dimmed">
            {image.width}×{image.height} · {formatBytes(image.size_bytes)}
          </Text>
        </Group>
        {actions && <Group gap={6}>{actions}</Group>}
      </Stack>
    </Card>
  );
}

export function ImageGrid({
  query,
  actions,
  columns = { base: 2, sm: 3, md: 4, lg: 5 },
}: {
  query: UseInfiniteQueryResult<InfiniteData<{ data: LibraryImage[]; next_cursor?: string | null }>>;
  actions?: (image: LibraryImage) => ReactNode;
  columns?: Record<string, number>;
}) {
  const images = flattenPages(query.data?.pages);
  return (
    <Stack>
      <SimpleGrid cols={columns} spacing="md" role="list" aria-label="Images">
        {images.map((image) => (
          <div role="listitem" key={image.id}>
            <ImageCard image={image} actions={actions?.(image)} />
          </div>
        ))}
      </SimpleGrid>
      {query.hasNextPage && (
        <Group justify="center">
          <Button variant="default" onClick={() => void query.fetchNextPage()} loading={query.isFetchingNextPage}>
            Load more
          </Button>
        </Group>
      )}
    </Stack>
  );
}
