// The image being read (state.js) with the options of the form (options.js), as the body of a
// request: the multipart form of POST /ocr, or the JSON of /api/v1/ocr/stream and /api/v1/preprocess.

import { blobBase64 } from "./dom.js";
import { appendOptionFields, readOptions, wantsProcessedImage } from "./options.js";
import { needsServerPreview, state } from "./state.js";

/** The form to POST to /ocr. The page asks for the processed image when the user wants it, or
 * when the browser cannot show the image itself (PDF, TIFF, URL); ``forDownload``: never. */
export function ocrForm(forDownload = false) {
  const data = new FormData();
  if (state.file) data.append("image", state.file, "upload");  // the server never uses the name
  else data.append("image_url", state.url);
  appendOptionFields(data, readOptions());
  const preview = !forDownload && (wantsProcessedImage() || needsServerPreview() || !state.file);
  data.append("return_processed_image", preview ? "true" : "false");
  return data;
}

/** The JSON request of the image with the form's options, and ``extra`` fields. */
export async function ocrJson(extra = {}) {
  const body = { options: readOptions(), ...extra };
  if (state.file) body.image_base64 = await blobBase64(state.file);
  else body.image_url = state.url;
  return body;
}
