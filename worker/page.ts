// GET /: one self-contained page (no external requests) where a person drops
// or picks an image and sees every task's prediction from /v1/predict, the
// 28x28 image the model saw beside the upload, and where the time went.
// The inline script and style carry the response's CSP nonce.
export function renderPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stitch-edge</title>
<style nonce="${nonce}">
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  /* A block box: an inline label's padding and border would overlap the lines above and below. */
  #drop { display: block; border: 2px dashed #888; border-radius: 8px; padding: 2rem; margin: 1rem 0;
          text-align: center; cursor: pointer; }
  [hidden] { display: none !important; }
  #drop.over { background: #eef; }
  #images { display: flex; gap: 1.5rem; justify-content: center; align-items: flex-start; margin: 1rem 0; }
  figure { margin: 0; text-align: center; }
  figcaption { font-size: 13px; color: #555; }
  #preview, #seen { width: 8rem; height: 8rem; object-fit: contain; display: block; }
  #seen { image-rendering: pixelated; background: #000; }
  #timing { font-size: 13px; color: #555; }
  table { border-collapse: collapse; margin-top: 1rem; width: 100%; }
  td, th { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; }
  #status.error { color: #b00; }
</style>
</head>
<body>
<h1>stitch-edge</h1>
<p>Fashion-MNIST, two tasks from one cross-stitch network, running in this worker.</p>
<label id="drop">Drop an image here or click to pick one (PNG, JPEG or WebP)
  <input id="file" type="file" accept="image/png,image/jpeg,image/webp" hidden>
</label>
<p><label>API token (only if the server asks for one) <input id="token" type="password" autocomplete="off"></label></p>
<div id="images" hidden>
  <figure><img id="preview" alt="the upload"><figcaption>your image</figcaption></figure>
  <figure><canvas id="seen" width="28" height="28"></canvas><figcaption>what the model saw (28x28)</figcaption></figure>
</div>
<p id="status" role="status"></p>
<p id="timing"></p>
<table id="results" hidden>
  <thead><tr><th>task</th><th>label</th><th>score</th><th>runner-up</th></tr></thead>
  <tbody></tbody>
</table>
<script type="module" nonce="${nonce}">
const drop = document.getElementById("drop");
const input = document.getElementById("file");
const status = document.getElementById("status");
const table = document.getElementById("results");
const preview = document.getElementById("preview");
const images = document.getElementById("images");
const seen = document.getElementById("seen");
const timing = document.getElementById("timing");

function show(message, isError) {
  status.textContent = message;
  status.className = isError ? "error" : "";
}

// Photos can be far larger than the worker accepts (2.1 MP) and the model needs
// (28x28): shrink to at most 512 px a side here. What the browser cannot decode
// goes up unchanged, so the worker's own error message is shown.
async function shrink(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, 512 / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  } catch {
    return file;
  }
}

function drawSeen(pixels) {
  const context = seen.getContext("2d");
  const image = context.createImageData(28, 28);
  pixels.forEach((value, i) => {
    image.data.set([value, value, value, 255], i * 4);
  });
  context.putImageData(image, 0, 0);
}

function showTiming(response, totalMs) {
  const parts = (response.headers.get("server-timing") || "").split(",").map((part) => {
    const [name, duration] = part.trim().split(";dur=");
    return name && duration ? name + " " + Number(duration).toFixed(1) + " ms" : "";
  }).filter(Boolean);
  timing.textContent = "Round trip " + totalMs.toFixed(0) + " ms" + (parts.length ? "; server: " + parts.join(", ") : "");
}

async function predict(file) {
  table.hidden = true;
  timing.textContent = "";
  preview.src = URL.createObjectURL(file);
  seen.getContext("2d").clearRect(0, 0, 28, 28);
  images.hidden = false;
  show("Predicting…", false);
  const upload = await shrink(file);
  const headers = { "content-type": upload.type || "application/octet-stream" };
  const token = document.getElementById("token").value;
  if (token) headers.authorization = "Bearer " + token;
  try {
    const started = performance.now();
    const response = await fetch("/v1/predict?include=input", { method: "POST", headers, body: upload });
    const body = await response.json();
    showTiming(response, performance.now() - started);
    if (!response.ok) return show(body.error ? body.error.message : "HTTP " + response.status, true);
    const rows = table.tBodies[0];
    rows.replaceChildren();
    for (const [task, p] of Object.entries(body.predictions[0])) {
      const row = rows.insertRow();
      row.dataset.task = task;
      const second = p.top[1];
      for (const text of [task, p.label, (p.score * 100).toFixed(1) + "%",
                          second ? second.label + " " + (second.score * 100).toFixed(1) + "%" : ""]) {
        row.insertCell().textContent = text;
      }
    }
    drawSeen(body.inputs[0]);
    table.hidden = false;
    show("Model " + body.modelId, false);
  } catch (error) {
    show("Request failed: " + error.message, true);
  }
}

input.addEventListener("change", () => input.files[0] && predict(input.files[0]));
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const file = event.dataTransfer.files[0];
  if (file) predict(file);
});
</script>
</body>
</html>
`;
}
