"""A small example to try guidecode on: the cursor at line 13, column 9 opens the body of `area`."""

import math
from dataclasses import dataclass


@dataclass
class Circle:
    radius: float

    def area(self) -> float:
        """The area of the circle."""
        

    def perimeter(self) -> float:
        """The length of the circle's boundary."""
        return 2 * math.pi * self.radius
