// Debian's chromium, driven by playwright-core (no browser download): the flags the guide asks
// for, a fresh profile per launch (playwright makes one), headless.
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** What window.tailwireView.state() returns (see web/app.ts). */
export interface ViewState {
  state: string;
  status: string;
  lines: number;
  lastSeq: number | undefined;
  duplicates: number;
  exitCode: number | null | undefined;
  error: { code: string; message: string } | undefined;
  domRows: number;
  follow: boolean;
  firstLineMs: number | undefined;
}
