/* Render the math that pymdownx.arithmatex (generic mode) left in the page, with the vendored
 * KaTeX. Only .arithmatex elements are touched, so a literal "$" in prose or code stays as is.
 * Material's document$ fires on first load and after every instant-navigation page swap. */
(function () {
  function renderMath(root) {
    if (typeof renderMathInElement !== "function") return;
    root.querySelectorAll(".arithmatex").forEach(function (element) {
      renderMathInElement(element, {
        delimiters: [
          { left: "\\(", right: "\\)", display: false },
          { left: "\\[", right: "\\]", display: true }
        ],
        throwOnError: false,
        strict: "ignore"
      });
    });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(function (page) { renderMath(page.body || document.body); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { renderMath(document.body); });
  }
})();
