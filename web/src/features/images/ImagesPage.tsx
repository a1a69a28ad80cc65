/** The image library: upload (drop or pick), browse as a grid, copy an image's public URL for
 * a template, delete. Under Templates. */
import { ActionIcon, Stack, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconTrash } from "@tabler/icons-react";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { CopyButton } from "../../components/CopyButton";
import { PageBreadcrumbs } from "../../components/PageBreadcrumbs";
import { PageHeader } from "../../components/PageHeader";
import { useConfirmMutation } from "../../components/useConfirmMutation";
import { deleteImage, imageKeys, type LibraryImage } from "./api";
import { ImageLibraryBody } from "./ImageLibraryBody";
import { ImageUploadZone } from "./ImageUploadZone";

export function ImagesPage() {
  const queryClient = useQueryClient();
  const [deleting, setDeleting] = useState<LibraryImage | null>(null);
  const remove = useConfirmMutation({
    mutationFn: (image: LibraryImage) => deleteImage(image.id),
    onSuccess: (_data, close) => {
      notifications.show({ color: "teal", message: `Deleted ${deleting?.name ?? "the image"}.` });
      void queryClient.invalidateQueries({ queryKey: imageKeys.all });
      close();
    },
    onClose: () => setDeleting(null),
  });
  return (
    <>
      <PageBreadcrumbs links={[{ to: "/templates", label: "Templates" }]} current="Images" />
      <PageHeader
        title="Images"
        description="Pictures for your emails. Each one has a public URL on your Herald that email clients load and cache; templates show it with <mj-image src=…> or <img src=…>."
      />
      <Stack>
        <ImageUploadZone
          onUploaded={(image) => notifications.show({ color: "teal", message: `Uploaded ${image.name}.` })}
        />
        <ImageLibraryBody
          actions={(image) => (
            <>
              <CopyButton value={image.url} label="Copy URL" description={`the URL of ${image.name}`} />
              <Tooltip label="Delete">
                <ActionIcon
                  variant="subtle"
                  color="red"
                  aria-label={`Delete ${image.name}`}
                  onClick={() => setDeleting(image)}
                >
                  <IconTrash size={16} aria-hidden />
                </ActionIcon>
              </Tooltip>
            </>
          )}
        />
      </Stack>
      <ConfirmDialog
        opened={deleting !== null}
        title="Delete this image?"
        confirmLabel="Delete image"
        onConfirm={() => deleting && remove.mutate(deleting)}
        {...remove.dialog}
      >
        {deleting?.name} is removed from the library and its URL stops working, also in emails already sent.
      </ConfirmDialog>
    </>
  );
}
