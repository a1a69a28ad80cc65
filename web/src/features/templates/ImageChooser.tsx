/** The image library's picker, for the visual editor: an image block asks, a picked image's
 * address goes into it. */
import { ImagePicker } from "../images/ImagePicker";

export interface ImageRequest {
  choose: (url: string) => void;
}

export function ImageChooser({ request, onClose }: { request: ImageRequest | null; onClose: () => void }) {
  return (
    <ImagePicker
      opened={request !== null}
      onClose={onClose}
      onPick={(image) => request?.choose(image.url)}
    />
  );
}
