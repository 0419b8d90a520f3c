// A small example to try guidecode on: the cursor at line 8, column 5 opens the body of `area`.

export class Circle {
  constructor(public radius: number) {}

  /** The area of the circle. */
  area(): number {
    
  }

  /** The length of the circle's boundary. */
  perimeter(): number {
    return 2 * Math.PI * this.radius;
  }
}
