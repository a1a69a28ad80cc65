/** What can be done to a person from their page: edit, download their data, erase them (admins). */
import { Button } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconDownload, IconEdit, IconTrash } from "@tabler/icons-react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useNavigate } from "react-router";
import { api, call, type Profile } from "../../api/client";
import { errorMessage } from "../../api/errors";
import { keys } from "../../api/queries";
import { useIsAdmin } from "../../auth/session";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { useConfirmMutation } from "../../components/useConfirmMutation";
import { saveFile } from "../../lib/download";
import { profileLabel } from "../../lib/format";
import { EditProfileModal } from "./EditProfileModal";
import { profileExportFileName } from "./form";

export function ProfileActions({ profile }: { profile: Profile }) {
  // Every role may edit a profile; erasing one needs an admin (DELETE /api/profiles/{id}).
  const isAdmin = useIsAdmin();
  const [editing, setEditing] = useState(false);
  const [erasing, setErasing] = useState(false);
  const download = useMutation({
    mutationFn: () =>
      call(api.GET("/api/profiles/{profile_id}/export", { params: { path: { profile_id: profile.id } } })),
    onSuccess: (data) => {
      const json = JSON.stringify(data, null, 2) + "\n";
      saveFile(profileExportFileName(profile.id), new Blob([json], { type: "application/json" }));
    },
    onError: (error) => notifications.show({ color: "red", title: "The data was not downloaded", message: errorMessage(error) }),
  });
  return (
    <>
      <Button variant="default" leftSection={<IconEdit size={16} aria-hidden />} onClick={() => setEditing(true)}>
        Edit
      </Button>
      <Button
        variant="default"
        leftSection={<IconDownload size={16} aria-hidden />}
        loading={download.isPending}
        onClick={() => download.mutate()}
      >
        Download data
      </Button>
      {isAdmin && (
        <Button variant="subtle" color="red" leftSection={<IconTrash size={16} aria-hidden />} onClick={() => setErasing(true)}>
          Erase profile
        </Button>
      )}
      <EditProfileModal profile={profile} opened={editing} onClose={() => setEditing(false)} />
      {isAdmin && <EraseDialog profile={profile} opened={erasing} onClose={() => setErasing(false)} />}
    </>
  );
}

function EraseDialog({ profile, opened, onClose }: { profile: Profile; opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const label = profileLabel(profile);
  const erase = useConfirmMutation({
    mutationFn: () => call(api.DELETE("/api/profiles/{profile_id}", { params: { path: { profile_id: profile.id } } })),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: keys.profile(profile.id) });
      queryClient.removeQueries({ queryKey: keys.timeline(profile.id) });
      void queryClient.invalidateQueries({ queryKey: keys.profilesAll });
      notifications.show({ color: "teal", message: `${label} was erased, with their events.` });
      void navigate("/profiles");
    },
    onClose,
  });
  return (
    <ConfirmDialog
      opened={opened}
      title="Erase this profile?"
      confirmLabel="Erase profile"
      {...erase.dialog}
      onConfirm={() => erase.mutate()}
    >
      This deletes {label}&apos;s data: the profile, every event they did, their anonymous ids and the profiles
      merged into theirs. It cannot be undone. Download their data first if you need a copy.
    </ConfirmDialog>
  );
}
