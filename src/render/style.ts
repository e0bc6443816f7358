/** Colour functions handed to renderers; identity functions when colour is off. */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  ok(text: string): string;
  warn(text: string): string;
  bad(text: string): string;
  accent(text: string): string;
}

const identity = (text: string): string => text;

export const plainStyle: Style = {
  bold: identity,
  dim: identity,
  ok: identity,
  warn: identity,
  bad: identity,
  accent: identity,
};
