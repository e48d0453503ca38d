package e2e
{
    /** A sealed class registered as "e2e.Person" (the server maps the same alias). */
    public class Person
    {
        public var name:String;
        public var age:Number;
        public var tags:Array;

        public function Person(name:String = null, age:Number = 0, tags:Array = null)
        {
            this.name = name;
            this.age = age;
            this.tags = tags;
        }
    }
}
