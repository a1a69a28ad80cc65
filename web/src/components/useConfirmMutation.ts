import { useMutation } from "@tanstack/react-query";
import { mapFieldErrors } from "../api/errors";

/** The mutation a <ConfirmDialog> confirms. Closing the dialog forgets the mutation's last error;
 * spread `dialog` into the ConfirmDialog for its busy state, its errors and its Cancel. */
export function useConfirmMutation<TData, TVariables = void>({
  mutationFn,
  onSuccess,
  onClose,
}: {
  mutationFn: (variables: TVariables) => Promise<TData>;
  /** `close` shuts the dialog; a success that leaves the page need not call it. */
  onSuccess: (data: TData, close: () => void) => void;
  onClose: () => void;
}) {
  const mutation = useMutation({ mutationFn, onSuccess: (data: TData) => onSuccess(data, close) });
  const close = () => {
    mutation.reset();
    onClose();
  };
  return {
    mutate: mutation.mutate,
    dialog: {
      busy: mutation.isPending,
      errors: mutation.isError ? mapFieldErrors(mutation.error, []).other : [],
      onCancel: close,
    },
  };
}
