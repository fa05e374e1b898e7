package gatehouse.bounds_test

import data.gatehouse.bounds
import data.gatehouse_test.call

test_below_absolute_zero_refused if {
	r := bounds.refusal with input as call("temp.convert", {"temp": -500}, [])
	r.allow == false
	r.code == "validation_failed"
	r.reason == "temp = -500 is below the minimum -273"
}

test_in_range_allowed if {
	not bounds.refusal with input as call("temp.convert", {"temp": 21.5}, [])
	not bounds.refusal with input as call("temp.convert", {"temp": -273}, [])
}

test_just_below_refused if {
	bounds.refusal.code == "validation_failed" with input as call("temp.convert", {"temp": -273.0001}, [])
}

test_not_a_number_refused if {
	bounds.refusal.reason == "temp must be a number" with input as call("temp.convert", {"temp": "-500"}, [])
}

test_maximum if {
	r := bounds.refusal with input as call("temp.convert", {"temp": 5000}, []) with bounds.limits as {"temp.convert": {"temp": {"min": -273, "max": 1000}}}
	r.reason == "temp = 5000 is above the maximum 1000"
}

test_missing_argument_not_checked if {
	not bounds.refusal with input as call("temp.convert", {}, [])
}

test_other_tools_not_checked if {
	not bounds.refusal with input as call("echo", {"temp": -500}, [])
}
