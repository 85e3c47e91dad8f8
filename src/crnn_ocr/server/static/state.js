// What the Read tab shows, shared by its views (read, viewer, result, downloads): the image being
// read (a file or a URL), the result shown and the page of it. Only views/read.js changes the source.

export const state = {
  file: null,          // the Blob being recognised
  url: "",             // or the image URL the server fetches
  fileName: "",
  objectUrl: null,     // object URL of the original image
  reopened: false,     // the result shown was read earlier (history, batch): no file at hand
  images: {},          // SHA-256 of a file read here -> its object URL (history entries reopen with it)
  result: null,        // last successful response
  rtt: null,           // its round trip, ms
  pageIndex: 0,        // the page of the result shown
  selected: -1,        // index of the highlighted line (on the page shown)
  limits: null,        // from /api/v1/info
};

/** There is an image to read (a file or a URL). */
export function hasSource() {
  return Boolean(state.file || state.url);
}

export function isPdf(blob, name) {
  return blob.type === "application/pdf" || /\.pdf$/i.test(name || "");
}

/** Files the browser cannot show in an <img> (PDF, TIFF): the server sends each page's image. */
export function needsServerPreview() {
  return Boolean(state.file) && (isPdf(state.file, state.fileName) || /^image\/tiff$/.test(state.file.type)
    || /\.tiff?$/i.test(state.fileName));
}

/** The pages of ``result``: a document's pages, or the image as one page ({width, height, lines, ...}). */
export function pagesOf(result) {
  return result.pages && result.pages.length ? result.pages : [{ ...result.image, lines: result.lines }];
}

/** The page of a document shown (1-based), or null for an image. */
export function shownPage() {
  return state.result && state.result.pages ? state.result.pages[state.pageIndex].page : null;
}
