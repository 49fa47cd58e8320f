// The interactive API page: Swagger UI over this server's OpenAPI document.
//
// Every URL is relative to the page ({base}api/v1/docs), so the page works under any base URL (a
// Jupyter server's /user/<name>/, a JupyterHub service's prefix). Requests go to the page's own
// origin only: no validator badge, no configuration from the query string.
//
// Each request Swagger UI makes (the document, "Try it out") is given, for this origin only:
// - the `_xsrf` cookie as the X-XSRFToken header, which a Jupyter server checks on a POST made
//   with its login cookie;
// - the token the page was opened with (?token=, how a hub service's page is reached), as an
//   Authorization header: never in a URL the page builds.

const XSRF_COOKIE = "_xsrf";

/** The raw value of the cookie `name`, or null. */
function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) {
      return value.join("=");
    }
  }
  return null;
}

const pageToken = new URLSearchParams(window.location.search).get("token");

/** Swagger UI's requestInterceptor: this origin's credentials, for this origin only. */
function withCredentials(request) {
  const target = new URL(request.url, document.baseURI);
  if (target.origin !== window.location.origin) {
    return request;
  }
  request.headers = request.headers || {};
  const xsrf = cookie(XSRF_COOKIE);
  if (xsrf) {
    request.headers["X-XSRFToken"] = xsrf;
  }
  if (pageToken) {
    request.headers.Authorization = `token ${pageToken}`;
  }
  return request;
}

window.ui = window.SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: false,
  queryConfigEnabled: false,
  validatorUrl: null,
  requestInterceptor: withCredentials,
});
