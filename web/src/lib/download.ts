/** Saves data made in the browser as a file, as a link with a `download` attribute would. */
export function saveFile(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.style.display = "none";
  document.body.append(link);
  link.click();
  link.remove();
  // The browser has started the download by now; the address is kept a little longer anyway.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
