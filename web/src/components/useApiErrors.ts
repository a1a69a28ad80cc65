import { useState } from "react";
import { mapFieldErrors } from "../api/errors";

interface SettableForm {
  setErrors: (errors: Record<string, string>) => void;
  clearErrors: () => void;
}

/** Shows an API error on a form: each field's reason under its input, the rest above the form. */
export function useApiErrors(fields: readonly string[], aliases: Readonly<Record<string, string>> = {}) {
  const [other, setOther] = useState<string[]>([]);
  return {
    /** Messages no input can show; render them with <FormErrors>. */
    other,
    show(form: SettableForm, error: unknown) {
      const mapped = mapFieldErrors(error, fields, aliases);
      form.setErrors(mapped.byField);
      setOther(mapped.other);
    },
    clear(form?: SettableForm) {
      form?.clearErrors();
      setOther([]);
    },
  };
}
