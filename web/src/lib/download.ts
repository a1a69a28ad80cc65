/** Starts downloading `href` as a link with a `download` attribute would; `name` is the file name
 * to suggest ("" leaves it to the server's Content-Disposition). */
export function followDownload(href: string, name = ""): void {
  const link = document.createElement("a");
  link.href = href;
  link.download = name;
  link.style.display = "none";
  document.body.append(link);
  link.click();
  link.remove();
}

/** Saves data made in the browser as a file. */
export function saveFile(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  followDownload(url, name);
  // The browser has started the download by now; the address is kept a little longer anyway.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
