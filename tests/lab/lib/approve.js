// Approves a check-mode SSH login the way a person would: headless Chromium (Debian's
// /usr/bin/chromium through playwright-core) opens the URL from the SSH banner, logs in
// as the device's owner when asked, enters the password again on the check page (a check is a
// fresh login), clicks "approve", and saves screenshots.
//   node approve.js URL LOGIN PASSWORD SCREENSHOT_DIR
// Exits 0 once the page says the login is approved.  MESH_CERT_SPKI (base64 SHA-256 of
// control's public key) pins control's certificate from the lab's own CA: Chromium trusts
// that one key, and nothing else that the system's CAs do not.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [url, login, password, shots] = process.argv.slice(2);
if (!url || !login || !password || !shots) {
	console.error('usage: approve.js URL LOGIN PASSWORD SCREENSHOT_DIR');
	process.exit(2);
}

(async () => {
	fs.mkdirSync(shots, { recursive: true });
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mesh-chromium-'));
	const browser = await chromium.launchPersistentContext(profile, {
		executablePath: '/usr/bin/chromium',
		headless: true,
		viewport: { width: 390, height: 760 },
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync']
			.concat(process.env.MESH_CERT_SPKI ?
				['--ignore-certificate-errors-spki-list=' + process.env.MESH_CERT_SPKI] : []),
	});
	let code = 1;
	try {
		const page = browser.pages()[0] || await browser.newPage();
		await page.goto(url);
		if (await page.$('#password')) {
			await page.screenshot({ path: path.join(shots, 'check-1-login.png'), fullPage: true });
			await page.fill('#login', login);
			await page.fill('#password', password);
			await page.click('button[type=submit]');
		}
		// a check is a fresh login: the password again, for this login
		if (await page.$('#reauth'))
			await page.fill('#reauth', password);
		await page.screenshot({ path: path.join(shots, 'check-2-approve.png'), fullPage: true });
		await page.click('button[value=approve]');
		const text = await page.textContent('body');
		await page.screenshot({ path: path.join(shots, 'check-3-approved.png'), fullPage: true });
		if (/approved/i.test(text)) {
			code = 0;
		} else {
			console.error('the page did not confirm the approval: ' + text.trim().slice(0, 300));
		}
	} catch (e) {
		console.error('approve.js: ' + e.message);
	} finally {
		await browser.close();
		fs.rmSync(profile, { recursive: true, force: true });
	}
	process.exit(code);
})();
