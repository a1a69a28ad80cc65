import { Button } from "@mantine/core";
import { IconDownload } from "@tabler/icons-react";
import type { ReactNode } from "react";
import { useSignedInDownload } from "../auth/session";

/** A button that downloads a file the server makes for the signed-in user (an export, a stored
 * email). The session is checked first: see useSignedInDownload. `fileName` suggests a name;
 * without one the server's Content-Disposition names the file. */
export function DownloadButton({ href, fileName, children }: { href: string; fileName?: string; children: ReactNode }) {
  const download = useSignedInDownload();
  return (
    <Button
      variant="default"
      component="a"
      href={href}
      download={fileName ?? true}
      onClick={download}
      leftSection={<IconDownload size={16} aria-hidden />}
    >
      {children}
    </Button>
  );
}
