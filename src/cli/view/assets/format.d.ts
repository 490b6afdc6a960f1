// Types of format.js for the tests that hold it to the command line's own formatting (the page loads the .js).
export function formatBytes(bytes: number): string;
export function formatCount(count: number): string;
export function plural(count: number, word: string): string;
export function formatNumber(value: number | null | undefined): string;
export function percent(part: number, whole: number): string;
