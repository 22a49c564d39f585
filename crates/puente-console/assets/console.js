// Puente console: the only script, embedded and served from /assets (no inline script
// is allowed by the Content-Security-Policy). Pages work without it; it only puts the
// cursor in the first empty field of the page's main form.
document.addEventListener("DOMContentLoaded", function () {
  var f = document.querySelector("main form input:not([type=hidden]):not([value]), main form input[value='']:not([type=hidden])");
  if (f && !document.querySelector("main .result")) { f.focus(); }
});
