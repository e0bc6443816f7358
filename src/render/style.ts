/**
 * Colour functions handed to renderers (identity functions when colour is off; plain functions, so
 * a renderer may pass `style.dim` along), and the width to fit.
 */
export interface Style {
  bold: (text: string) => string;
  dim: (text: string) => string;
  ok: (text: string) => string;
  warn: (text: string) => string;
  bad: (text: string) => string;
  accent: (text: string) => string;
  /** The columns of the terminal the text is printed on (80 when it is not a terminal). */
  width: number;
  /** Show every column in full, whatever the width (`--wide`). */
  wide: boolean;
}

const identity = (text: string): string => text;

export const plainStyle: Style = {
  bold: identity,
  dim: identity,
  ok: identity,
  warn: identity,
  bad: identity,
  accent: identity,
  width: 80,
  wide: false,
};
