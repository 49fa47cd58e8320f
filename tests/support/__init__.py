"""Helpers shared by the tests and the benchmarks: real data, servers, lakes built for a case.

- ``real_data``: where Fink's real files are, and what an alert must show, read with pyarrow.
- ``servers``: free ports, waiting for HTTP, the two doors started as real processes.
- ``doors``: what a door answers (``Response``), and the fetch of each door for the contract.
- ``rewrites``: same-size rewrites of a lake file (stale-index cases).
- ``nonfinite``: a lake of real alerts with NaN and infinite numbers.
- ``browser``: Debian's Chromium driven by Playwright.
- ``node``: Node.js for the tests of the widgets' browser code, or a skip (a failure in CI).
- ``wcs``: celestial WCSs built by hand (``tan_wcs``).
- ``hub``: a real JupyterHub on loopback with the shipped config.
- ``misbehaving``: a real aiohttp server answering as a broken, slow or huge one would.
- ``misbehaving``: a real aiohttp server answering as a broken, slow, huge or redirecting one.
"""
